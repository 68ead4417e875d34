// One decode benchmark configuration end to end: load the model, convert it when the configuration is
// EliteKV, open a session on the named backend, run the decode harness and report throughput, cache
// bytes, bytes read per token and peak RSS. Run it in a child process so that the RSS is its own.
import { fileURLToPath } from "node:url";

import {
  cacheBytesPerToken,
  cacheRatio,
  type Backend,
  type InferenceSession,
  type KvCacheLayout,
  type ProgressListener,
} from "@elitekv/core";
import { loadModel } from "@elitekv/models";

import { benchWeightBytesPerElement, createBenchBackend, type BenchWeightDtype } from "./bench-backend.js";
import { benchConfigurationLabel, prepareBenchModel, type BenchConfiguration, type PreparedBenchModel } from "./bench-model.js";
import { loadBenchTokenIds } from "./bench-token-ids.js";
import { decodeBytesReadPerToken, weightElementsReadPerToken, type DecodeBytesRead, type WeightElementsRead } from "./bytes-read-per-token.js";
import {
  decodeHarnessCapacity,
  measureDecodeAtContexts,
  type DecodeAtContext,
  type DecodeHarnessOptions,
  type PrefillMeasurement,
} from "./decode-harness.js";
import { runJsonChild, type JsonChildOptions, type JsonChildOutcome } from "./json-child-process.js";

export interface DecodeConfigurationSpec {
  modelPath: string;
  /** "cpu" or "ort". */
  backend: string;
  /** Threads of the backend, or its default when omitted. */
  threads?: number;
  configuration: BenchConfiguration;
  harness: Omit<DecodeHarnessOptions, "onProgress">;
  /** Storage type of the weights in the backend, which also sets the bytes per weight in the bytes-read count. */
  weightDtype: BenchWeightDtype;
}

export interface CacheReport {
  kind: KvCacheLayout["kind"];
  dtype: KvCacheLayout["dtype"];
  /** Tokens the session's cache was allocated for. */
  capacity: number;
  /** session.cache.bytesAllocated. */
  bytesAllocated: number;
  /** session.cache.bytesPerToken, from the allocated buffers. */
  bytesPerToken: number;
  /** cacheBytesPerToken(layout), from the layout alone. */
  layoutBytesPerToken: number;
  /** Cache bytes per token relative to the full cache of the same model. */
  cacheRatio: number;
}

export interface DecodeConfigurationReport {
  configuration: string;
  backend: { requested: string; name: string; threads: number | null };
  model: {
    path: string;
    layers: number;
    numHeads: number;
    numKvHeads: number;
    headDim: number;
    hiddenSize: number;
    vocabSize: number;
  };
  loadSeconds: number;
  conversion?: PreparedBenchModel["conversion"];
  cache: CacheReport;
  weightElementsRead: WeightElementsRead;
  weightBytesPerElement: number;
  prefill: PrefillMeasurement;
  /** Each context's decode throughput with the bytes a step read at the mean timed cache length. */
  decode: Array<DecodeAtContext & { bytesReadPerToken: DecodeBytesRead }>;
  memory: {
    /** process.resourceUsage().maxRSS at the end, KiB: the peak of the whole child process. */
    peakRssKiB: number;
    /** The same before the session was created: model load and conversion. */
    peakRssBeforeSessionKiB: number;
  };
}

/** The child entry point that runs measureDecodeConfiguration. */
export const decodeConfigurationMain = fileURLToPath(new URL("./decode-configuration-main.ts", import.meta.url));

/** Measures one configuration in this process. Disposes the session and backend before returning. */
export async function measureDecodeConfiguration(spec: DecodeConfigurationSpec, onProgress?: ProgressListener): Promise<DecodeConfigurationReport> {
  const loadStart = performance.now();
  const base = await loadModel(spec.modelPath);
  const prepared = await prepareBenchModel(base, spec.configuration, onProgress);
  const loadSeconds = (performance.now() - loadStart) / 1000;
  const { model } = prepared;

  const capacity = decodeHarnessCapacity(spec.harness);
  const ids = await loadBenchTokenIds(model.tokenizer, capacity);
  const peakRssBeforeSessionKiB = process.resourceUsage().maxRSS;

  let backend: Backend | undefined;
  let session: InferenceSession | undefined;
  try {
    backend = await createBenchBackend(spec.backend, { threads: spec.threads, weightDtype: spec.weightDtype });
    session = await backend.createSession(model, { maxContext: capacity });
    const result = await measureDecodeAtContexts(session, ids, { ...spec.harness, onProgress });

    const cache = session.cache;
    const weightElementsRead = weightElementsReadPerToken(model.config, model.elite);
    const weightBytesPerElement = benchWeightBytesPerElement(spec.weightDtype);
    const decode = result.decode.map((entry) => ({
      ...entry,
      bytesReadPerToken: decodeBytesReadPerToken({
        config: model.config,
        elite: model.elite,
        weightBytesPerElement,
        cacheLayout: cache.layout,
        cacheTokens: entry.timedCacheTokens.mean,
      }),
    }));

    const report: DecodeConfigurationReport = {
      configuration: benchConfigurationLabel(spec.configuration),
      backend: { requested: spec.backend, name: backend.name, threads: spec.threads ?? null },
      model: {
        path: spec.modelPath,
        layers: model.config.numLayers,
        numHeads: model.config.numHeads,
        numKvHeads: model.config.numKvHeads,
        headDim: model.config.headDim,
        hiddenSize: model.config.hiddenSize,
        vocabSize: model.config.vocabSize,
      },
      loadSeconds,
      cache: {
        kind: cache.layout.kind,
        dtype: cache.layout.dtype,
        capacity: cache.capacity,
        bytesAllocated: cache.bytesAllocated,
        bytesPerToken: cache.bytesPerToken,
        layoutBytesPerToken: cacheBytesPerToken(cache.layout),
        cacheRatio: cacheRatio(cache.layout),
      },
      weightElementsRead,
      weightBytesPerElement,
      prefill: result.prefill,
      decode,
      memory: { peakRssKiB: 0, peakRssBeforeSessionKiB },
    };
    if (prepared.conversion !== undefined) report.conversion = prepared.conversion;
    report.memory.peakRssKiB = process.resourceUsage().maxRSS;
    return report;
  } finally {
    await session?.dispose();
    await backend?.dispose();
  }
}

/** Measures one configuration in a child process (see decode-configuration-main.ts). Never rejects. */
export function runDecodeConfigurationInChild(
  spec: DecodeConfigurationSpec,
  options?: JsonChildOptions,
): Promise<JsonChildOutcome<DecodeConfigurationReport>> {
  return runJsonChild<DecodeConfigurationReport>(decodeConfigurationMain, spec, options);
}
