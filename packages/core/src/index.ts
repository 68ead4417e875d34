// Public API of @elitekv/core: the typed interfaces every package shares, and small math.

export {
  ElitekvError,
  isElitekvError,
  type ElitekvErrorCode,
  type ElitekvErrorDetails,
} from "./errors/elitekv-error.js";
export {
  BackendFailureError,
  ChecksumMismatchError,
  ContextOverflowError,
  CorruptFileError,
  FetchFailedError,
  FileNotFoundError,
  InvalidArgumentError,
  InvalidConfigError,
  InvalidTokenizerError,
  UnknownFormatError,
  UnsupportedArchitectureError,
  UnsupportedTensorTypeError,
  UnsupportedVersionError,
} from "./errors/error-classes.js";

export {
  queryGroupSize,
  ropeChunkCount,
  validateModelConfig,
  type ModelConfig,
  type RopeConfig,
  type RopeLayout,
  type RopeScaling,
} from "./model/model-config.js";
export {
  applyRope,
  buildRopeTable,
  interleavedToHalfPermutation,
  permuteInterleavedRows,
  ropeInverseFrequencies,
  type RopeTable,
} from "./model/rope.js";
export {
  bf16ToF32,
  bytesPerElement,
  elementCount,
  f16ToF32,
  f32ToF16,
  type StorageDtype,
  type Tensor,
} from "./model/tensor.js";
export { MapWeightStore, weightNames, type WeightStore } from "./model/weight-store.js";
export type {
  ChatMessage,
  EncodeOptions,
  TokenDecoderStream,
  Tokenizer,
} from "./model/tokenizer.js";
export type { LoadedModel, ModelFormat, ModelSource } from "./model/loaded-model.js";
export {
  eliteCacheLayout,
  eliteLayerRatio,
  eliteNopeDims,
  eliteRopeDims,
  eliteWeightNames,
  validateEliteKvConfig,
  type EliteKvConfig,
  type EliteLayerConfig,
} from "./model/elitekv-config.js";

export {
  cacheBytesPerToken,
  cacheDtypeBytes,
  cacheRatio,
  fullCacheLayout,
  valuesPerTokenInLayer,
  type CacheDtype,
  type EliteCacheLayout,
  type EliteLayerLayout,
  type FullCacheLayout,
  type KvCacheLayout,
} from "./cache/kv-cache-layout.js";
export type { KvCache } from "./cache/kv-cache.js";

export type {
  Backend,
  CaptureEvent,
  CaptureOptions,
  ForwardOptions,
  InferenceSession,
  Logits,
  SessionOptions,
} from "./backend/backend.js";
export { validateForwardRequest, validateTokenIds, type ForwardRequest } from "./backend/forward-request.js";

export { silentProgress, type ProgressEvent, type ProgressListener } from "./progress/progress-event.js";

export { argmax, Sampler, type SamplingOptions } from "./sampling/sampler.js";
export { createRandom, type Random } from "./sampling/random.js";

export { logSumExp, matmulTransposed, rmsNorm } from "./math/linear-algebra.js";
export {
  createMatrix,
  frobeniusNorm,
  identityMatrix,
  multiply,
  sliceColumns,
  subtract,
  transpose,
  type Matrix,
} from "./math/dense-matrix.js";
export { qrDecompose, type QrResult } from "./math/qr.js";
export {
  dampedCholesky,
  solveLowerTriangular,
  solveUpperTriangularTransposed,
  type CholeskyOptions,
  type CholeskyResult,
} from "./math/cholesky.js";
export { svd, type JacobiOptions, type SvdResult } from "./math/svd.js";
export {
  randomizedSvd,
  referenceMatmul,
  type MatmulProvider,
  type RandomizedSvdOptions,
} from "./math/randomized-svd.js";
