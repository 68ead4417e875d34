// Comparison of models under test with their base model on the same token stream: perplexity of each,
// KL(base ‖ model) and top-1 agreement of their next-token distributions, window by window.
import {
  BackendFailureError,
  InvalidArgumentError,
  type InferenceSession,
  type Logits,
  type ProgressListener,
} from "@elitekv/core";

import { klDivergence, logitsRow, topTokenAgreement } from "./logit-comparison.js";
import { nextTokenNlls } from "./token-nll.js";
import { validateIds, validateWindow } from "./window-validation.js";

export interface CompareModelsOptions {
  /** Ids per window, BOS included when the window starts the stream. At least 2. */
  window: number;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface ModelPerplexity {
  /** exp(meanNll). */
  ppl: number;
  /** Mean of the window means, in nats per token. */
  meanNll: number;
}

export interface ModelComparison {
  base: ModelPerplexity;
  model: ModelPerplexity;
  /** 100 · (model.ppl / base.ppl − 1). */
  pplIncreasePct: number;
  /** Mean over predicted positions of KL(base ‖ model), in nats. */
  klDivergence: number;
  /** Fraction of predicted positions where both models' argmax ids agree, in [0, 1]. */
  top1Agreement: number;
  /** Predicted positions: windows × (window − 1). */
  tokens: number;
  windows: number;
  /** Wall-clock time of the whole comparison. */
  seconds: number;
}

const progressTask = "compare";

/**
 * Compares `modelSession` with `baseSession` on `ids`, with the window protocol of computePerplexity:
 * non-overlapping windows of `options.window` ids, a final partial window dropped, each session reset
 * and prefilled with logits "all" per window. Row i of a window predicts id i + 1, so the last row is
 * not scored and each window has window − 1 predicted positions for the NLL, the KL and the agreement.
 *
 * Throws InvalidArgumentError when the sessions differ in vocabulary size, for a window that does not
 * fit either session's cache or the stream, and for ids outside the vocabulary. Throws
 * BackendFailureError for logits of the wrong shape or a NaN NLL.
 */
export async function compareModels(
  baseSession: InferenceSession,
  modelSession: InferenceSession,
  ids: readonly number[],
  options: CompareModelsOptions,
): Promise<ModelComparison> {
  const [comparison] = await compareModelSet(baseSession, [modelSession], ids, options);
  return comparison;
}

/**
 * compareModels for several models under test against one base: each window runs on the base session
 * once and then on every model session, so n models cost n + 1 passes over the text instead of 2n.
 * Returns one comparison per model session, in order; each equals what compareModels returns for it.
 * The progress metrics name the models by index (modelPpl0, klDivergence0, ...) when there are several.
 */
export async function compareModelSet(
  baseSession: InferenceSession,
  modelSessions: readonly InferenceSession[],
  ids: readonly number[],
  options: CompareModelsOptions,
): Promise<ModelComparison[]> {
  const { window, onProgress, signal } = options;
  if (modelSessions.length === 0) {
    throw new InvalidArgumentError("pass at least one model session to compare with the base", { field: "modelSessions" });
  }
  for (const modelSession of modelSessions) {
    if (baseSession.config.vocabSize !== modelSession.config.vocabSize) {
      throw new InvalidArgumentError(
        `the base model has a vocabulary of ${baseSession.config.vocabSize} and the model under test one of ` +
          `${modelSession.config.vocabSize}; compare a converted model with the base model it came from`,
        { field: "vocabSize" },
      );
    }
  }
  validateWindow(baseSession, ids, window);
  for (const modelSession of modelSessions) validateWindow(modelSession, ids, window);
  validateIds(baseSession, ids);

  const windows = Math.floor(ids.length / window);
  const startTime = performance.now();
  onProgress?.({ type: "start", task: progressTask, total: windows, unit: "window" });

  let baseNllSum = 0;
  const sums = modelSessions.map(() => ({ nll: 0, kl: 0, agreeing: 0 }));
  for (let w = 0; w < windows; w++) {
    signal?.throwIfAborted();

    const windowIds = ids.slice(w * window, (w + 1) * window);
    const baseLogits = await windowLogits(baseSession, windowIds, "base");
    baseNllSum += windowMeanNll(baseLogits, windowIds, w, "base");

    for (let m = 0; m < modelSessions.length; m++) {
      signal?.throwIfAborted();
      const label = modelSessions.length === 1 ? "model" : `model ${m}`;
      const modelLogits = await windowLogits(modelSessions[m], windowIds, label);
      const sum = sums[m];
      sum.nll += windowMeanNll(modelLogits, windowIds, w, label);

      for (let row = 0; row < window - 1; row++) {
        const baseRow = logitsRow(baseLogits, row);
        const modelRow = logitsRow(modelLogits, row);
        sum.kl += klDivergence(baseRow, modelRow);
        if (topTokenAgreement(baseRow, modelRow)) sum.agreeing++;
      }
    }

    const predicted = (w + 1) * (window - 1);
    const metrics: Record<string, number> = { basePpl: Math.exp(baseNllSum / (w + 1)) };
    sums.forEach((sum, m) => {
      const suffix = modelSessions.length === 1 ? "" : String(m);
      metrics[`modelPpl${suffix}`] = Math.exp(sum.nll / (w + 1));
      metrics[`klDivergence${suffix}`] = sum.kl / predicted;
      metrics[`top1Agreement${suffix}`] = sum.agreeing / predicted;
    });
    onProgress?.({ type: "advance", task: progressTask, current: w + 1, total: windows, unit: "window", metrics });
  }

  const seconds = (performance.now() - startTime) / 1000;
  onProgress?.({ type: "end", task: progressTask, seconds });

  const tokens = windows * (window - 1);
  const base = perplexityOf(baseNllSum / windows);
  return sums.map((sum) => {
    const model = perplexityOf(sum.nll / windows);
    return {
      base,
      model,
      pplIncreasePct: 100 * (model.ppl / base.ppl - 1),
      klDivergence: sum.kl / tokens,
      top1Agreement: sum.agreeing / tokens,
      tokens,
      windows,
      seconds,
    };
  });
}

async function windowLogits(session: InferenceSession, windowIds: number[], label: string): Promise<Logits> {
  session.reset();
  const logits = await session.prefill(windowIds, { logits: "all" });
  const vocabSize = session.config.vocabSize;
  if (logits.rows !== windowIds.length || logits.vocabSize !== vocabSize) {
    throw new BackendFailureError(
      `prefill of ${windowIds.length} ids with logits "all" on the ${label} session returned ` +
        `[${logits.rows}, ${logits.vocabSize}] logits, expected [${windowIds.length}, ${vocabSize}]; ` +
        'the backend does not implement logits "all"',
      { field: "logits" },
    );
  }
  return logits;
}

function windowMeanNll(logits: Logits, windowIds: number[], windowIndex: number, label: string): number {
  const nlls = nextTokenNlls(logits, windowIds);
  let sum = 0;
  for (let i = 0; i < nlls.length; i++) sum += nlls[i];
  const mean = sum / nlls.length;

  if (Number.isNaN(mean)) {
    throw new BackendFailureError(
      `window ${windowIndex} of the ${label} session has a NaN NLL; the backend returned NaN logits`,
      { field: "logits" },
    );
  }
  return mean;
}

function perplexityOf(meanNll: number): ModelPerplexity {
  return { ppl: Math.exp(meanNll), meanNll };
}
