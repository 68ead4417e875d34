// The comparison step: a base model and its EliteKV checkpoints on the same evaluation ids, with the
// cache bytes per token that each session measures.
import type { LoadedModel, ProgressListener } from "@elitekv/core";
import { compareModelSet, type ModelComparison } from "@elitekv/eval";

import type { WeightDtype } from "@elitekv/runtime-ort";

import { withSessions, type BackendName } from "../model/with-session.js";

export interface CheckpointComparison {
  base: { ppl: number };
  model: { ppl: number };
  pplIncreasePct: number;
  klDivergence: number;
  top1Agreement: number;
  /** cacheBytesPerToken.model / cacheBytesPerToken.base. */
  cacheRatio: number;
  /** Bytes one token occupies in each session's KV cache, over all layers. */
  cacheBytesPerToken: { base: number; model: number };
  tokens: number;
  windows: number;
  seconds: number;
}

/** Runs compareModels on two sessions of `window` positions and adds the cache sizes. */
export async function compareCheckpoint(
  base: LoadedModel,
  model: LoadedModel,
  ids: readonly number[],
  options: { window: number; backend?: BackendName; threads?: number },
  onProgress: ProgressListener,
): Promise<CheckpointComparison> {
  const [comparison] = await compareCheckpoints(base, [model], ids, options, onProgress);
  return comparison;
}

/**
 * compareCheckpoint for several models against one base, which runs once per window for all of them.
 * Returns one comparison per model, in order.
 */
export async function compareCheckpoints(
  base: LoadedModel,
  models: readonly LoadedModel[],
  ids: readonly number[],
  options: { window: number; backend?: BackendName; threads?: number; weightDtype?: WeightDtype },
  onProgress: ProgressListener,
): Promise<CheckpointComparison[]> {
  const sessionOptions = { backend: options.backend, threads: options.threads, weightDtype: options.weightDtype, maxContext: options.window };
  return withSessions([base, ...models], sessionOptions, async ([baseSession, ...modelSessions]) => {
    const comparisons: ModelComparison[] = await compareModelSet(baseSession, modelSessions, ids, { window: options.window, onProgress });
    return comparisons.map((comparison, m) => {
      const cacheBytesPerToken = { base: baseSession.cache.bytesPerToken, model: modelSessions[m].cache.bytesPerToken };
      return {
        base: { ppl: comparison.base.ppl },
        model: { ppl: comparison.model.ppl },
        pplIncreasePct: comparison.pplIncreasePct,
        klDivergence: comparison.klDivergence,
        top1Agreement: comparison.top1Agreement,
        cacheRatio: cacheBytesPerToken.model / cacheBytesPerToken.base,
        cacheBytesPerToken,
        tokens: comparison.tokens,
        windows: comparison.windows,
        seconds: comparison.seconds,
      };
    });
  });
}
