// The reference backend's results for one model and prompt, computed once and compared by every check:
// the prefill logits of each position, a greedy decode trajectory, the cache layout and the captures of
// the first and last layer.
import { argmax, InvalidArgumentError, type Backend, type KvCacheLayout, type LoadedModel, type Logits } from "@elitekv/core";

import { rowOf } from "./array-difference.js";
import { CaptureCollector, type AssembledCapture } from "./capture-collector.js";
import { defaultConformanceSettings } from "./conformance-settings.js";
import { withSession } from "./with-session.js";

export interface ReferenceResults {
  /** Names the model and variant in messages ("stories260K ratio-0.5"). */
  label: string;
  model: LoadedModel;
  /** The prompt. */
  ids: readonly number[];
  /** Context every check session is created with. */
  maxContext: number;
  /** Prefill of `ids` with logits "all": one row per prompt position. */
  prefill: Logits;
  /**
   * Greedy decode after the prefill. decodeIds[k] is the argmax of the previous logits (the prefill's
   * last row for k = 0) and is fed at position ids.length + k. decodeLogits[k] is the result.
   */
  decodeIds: readonly number[];
  decodeLogits: readonly Float32Array[];
  layout: KvCacheLayout;
  /** Captured layers: the first and the last. */
  captureLayers: readonly number[];
  /** Capture of the prompt prefill per layer. */
  capture: ReadonlyMap<number, AssembledCapture>;
}

export interface ReferenceOptions {
  label?: string;
  maxContext?: number;
  decodeSteps?: number;
}

/**
 * Runs `model` on `reference` (normally the CPU backend) and returns the results the checks compare
 * against. Throws InvalidArgumentError when the prompt is empty, decodeSteps is not a positive integer or
 * the context cannot hold the prompt and the decode steps.
 */
export async function computeReference(
  reference: Backend,
  model: LoadedModel,
  ids: readonly number[],
  options: ReferenceOptions = {},
): Promise<ReferenceResults> {
  const label = options.label ?? `${model.source.path}${model.elite === undefined ? "" : " (EliteKV)"}`;
  const maxContext = options.maxContext ?? defaultConformanceSettings.maxContext;
  const decodeSteps = options.decodeSteps ?? defaultConformanceSettings.decodeSteps;
  if (ids.length === 0) throw new InvalidArgumentError(`${label}: the prompt is empty`, { field: "ids" });
  if (!Number.isSafeInteger(decodeSteps) || decodeSteps < 1) {
    throw new InvalidArgumentError(`${label}: decodeSteps must be a positive integer, got ${String(decodeSteps)}`, { field: "decodeSteps" });
  }
  if (ids.length + decodeSteps > maxContext) {
    throw new InvalidArgumentError(
      `${label}: ${ids.length} prompt tokens and ${decodeSteps} decode steps do not fit maxContext ${maxContext}`,
      { field: "maxContext" },
    );
  }

  const lastLayer = model.config.numLayers - 1;
  const captureLayers = lastLayer === 0 ? [0] : [0, lastLayer];
  const vocabSize = model.config.vocabSize;

  return withSession(reference, model, maxContext, async (session) => {
    const collector = new CaptureCollector(model.config, captureLayers, 0, ids.length);
    const prefill = await session.prefill(ids, { logits: "all", capture: collector.options() });
    const capture = collector.assemble(`${label} (reference)`);

    const decodeIds: number[] = [];
    const decodeLogits: Float32Array[] = [];
    let previous = rowOf(prefill.data, prefill.rows - 1, vocabSize);
    for (let step = 0; step < decodeSteps; step++) {
      const id = argmax(previous);
      const logits = await session.decode(id);
      decodeIds.push(id);
      decodeLogits.push(Float32Array.from(logits.data));
      previous = logits.data;
    }

    return {
      label,
      model,
      ids: [...ids],
      maxContext,
      prefill: { ...prefill, data: Float32Array.from(prefill.data) },
      decodeIds,
      decodeLogits,
      layout: structuredClone(session.cache.layout),
      captureLayers,
      capture,
    };
  });
}
