// Public API of @elitekv/benchmarks: the decode harness, the configurations it compares, memory
// bandwidth and roofline arithmetic, the llama.cpp peer, and the child processes that isolate each run.
export { summarize, quantile, type Summary } from "./statistics.js";
export { measureCopyBandwidth, type CopyBandwidth, type CopyBandwidthOptions } from "./memory-bandwidth.js";
export {
  decodeBytesReadPerToken,
  weightElementsReadPerToken,
  type DecodeBytesRead,
  type WeightElementsRead,
} from "./bytes-read-per-token.js";
export { rooflineEstimate, rooflineTokensPerSecond, type RooflineEstimate } from "./roofline.js";
export { evaluateThroughputTarget, type ThroughputTarget } from "./throughput-target.js";
export {
  benchBackendNames,
  benchWeightBytesPerElement,
  createBenchBackend,
  isBenchBackendName,
  type BenchBackendName,
  type BenchBackendOptions,
  type BenchWeightDtype,
} from "./bench-backend.js";
export {
  benchConfigurationLabel,
  parseBenchConfiguration,
  prepareBenchModel,
  type BenchConfiguration,
  type PreparedBenchModel,
} from "./bench-model.js";
export { loadBenchTokenIds } from "./bench-token-ids.js";
export { decodeContextDefaults, readBenchSettings, type BenchDefaults, type BenchSettings } from "./bench-settings.js";
export {
  decodeHarnessCapacity,
  measureDecodeAtContexts,
  type DecodeAtContext,
  type DecodeHarnessOptions,
  type DecodeHarnessResult,
  type PrefillMeasurement,
  type PrefillStretch,
} from "./decode-harness.js";
export { repositoryRoot, runJsonChild, type JsonChildOptions, type JsonChildOutcome } from "./json-child-process.js";
export {
  decodeConfigurationMain,
  measureDecodeConfiguration,
  runDecodeConfigurationInChild,
  type CacheReport,
  type DecodeConfigurationReport,
  type DecodeConfigurationSpec,
} from "./decode-configuration.js";
export {
  defaultLlamaCppPeerFolder,
  ensureLlamaCppPeer,
  llamaCppBinaryPackage,
  llamaCppPeerVersion,
  type EnsureLlamaCppPeerOptions,
  type LlamaCppPeer,
} from "./llama-cpp-install.js";
export {
  llamaCppDecodeMain,
  measureLlamaCppDecode,
  runLlamaCppDecodeInChild,
  type LlamaCppDecodeReport,
  type LlamaCppDecodeSpec,
} from "./llama-cpp-decode.js";
