// Perplexity of a token stream over non-overlapping windows, the protocol the golden references use.
import {
  BackendFailureError,
  type InferenceSession,
  type ProgressListener,
} from "@elitekv/core";

import { nextTokenNlls } from "./token-nll.js";
import { validateIds, validateWindow } from "./window-validation.js";

export interface PerplexityOptions {
  /** Ids per window, BOS included when the window starts the stream. At least 2. */
  window: number;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface PerplexityResult {
  /** exp(meanNll). */
  ppl: number;
  /** Mean of the window means, in nats per token. */
  meanNll: number;
  /** Ids scored: windows × (window − 1). */
  tokens: number;
  windows: number;
  /** Mean NLL of each window's window − 1 predictions, in nats. */
  windowMeanNll: number[];
  /** Wall-clock time of the whole evaluation. */
  seconds: number;
  window: number;
  /** Ids of the final partial window, which are not scored. */
  droppedIds: number;
}

const progressTask = "perplexity";

/**
 * Computes the perplexity of `ids` with `session`.
 *
 * `ids` is the whole stream and already starts with BOS once. It is split into non-overlapping windows
 * of `options.window` ids, and a final partial window is dropped. For each window the session is reset,
 * the window is prefilled with logits "all", and the window − 1 next-token NLLs are averaged in float64.
 * No context carries across windows. `meanNll` is the mean of the window means.
 *
 * Throws InvalidArgumentError for a window below 2 or above the session's cache capacity, for fewer ids
 * than one window, and for ids outside the model's vocabulary. Throws BackendFailureError when the
 * session returns logits of the wrong shape or a NaN NLL. Rejects with the signal's reason when aborted.
 */
export async function computePerplexity(
  session: InferenceSession,
  ids: readonly number[],
  options: PerplexityOptions,
): Promise<PerplexityResult> {
  const { window, onProgress, signal } = options;
  validateWindow(session, ids, window);
  validateIds(session, ids);

  const windows = Math.floor(ids.length / window);
  const startTime = performance.now();
  onProgress?.({ type: "start", task: progressTask, total: windows, unit: "window" });

  const windowMeanNll: number[] = [];
  let nllSum = 0;
  for (let w = 0; w < windows; w++) {
    signal?.throwIfAborted();

    const windowIds = ids.slice(w * window, (w + 1) * window);
    session.reset();
    const logits = await session.prefill(windowIds, { logits: "all" });
    if (logits.rows !== window || logits.vocabSize !== session.config.vocabSize) {
      throw new BackendFailureError(
        `prefill of ${window} ids with logits "all" returned [${logits.rows}, ${logits.vocabSize}] logits, ` +
          `expected [${window}, ${session.config.vocabSize}]; the backend does not implement logits "all"`,
        { field: "logits" },
      );
    }

    const windowMean = mean(nextTokenNlls(logits, windowIds));
    if (Number.isNaN(windowMean)) {
      throw new BackendFailureError(
        `window ${w} (ids ${w * window} .. ${(w + 1) * window - 1}) has a NaN NLL; the backend returned ` +
          "NaN logits",
        { field: "logits" },
      );
    }
    windowMeanNll.push(windowMean);
    nllSum += windowMean;

    const elapsedSeconds = (performance.now() - startTime) / 1000;
    onProgress?.({
      type: "advance",
      task: progressTask,
      current: w + 1,
      total: windows,
      unit: "window",
      metrics: {
        tokensPerSecond: ((w + 1) * window) / Math.max(elapsedSeconds, 1e-9),
        ppl: Math.exp(nllSum / (w + 1)),
      },
    });
  }

  const meanNll = nllSum / windows;
  const seconds = (performance.now() - startTime) / 1000;
  onProgress?.({ type: "end", task: progressTask, seconds });

  return {
    ppl: Math.exp(meanNll),
    meanNll,
    tokens: windows * (window - 1),
    windows,
    windowMeanNll,
    seconds,
    window,
    droppedIds: ids.length - windows * window,
  };
}

function mean(values: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum / values.length;
}
