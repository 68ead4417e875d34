// Calibration windows: the calibration ids cut into non-overlapping windows of seqLen ids, with the final
// partial window dropped, as the perplexity protocol cuts an evaluation stream. Only the first window
// starts with BOS, because the ids are one tokenized text.
import { InvalidArgumentError } from "@elitekv/core";

/**
 * Returns floor(ids.length / seqLen) windows of `seqLen` ids. Throws InvalidArgumentError for a seqLen
 * below 2 or above `maxContext`, and for fewer ids than one window.
 */
export function calibrationWindows(ids: readonly number[], seqLen: number, maxContext: number): number[][] {
  if (!Number.isSafeInteger(seqLen) || seqLen < 2 || seqLen > maxContext) {
    throw new InvalidArgumentError(`seqLen must be an integer in 2..${maxContext} (the model's context), got ${seqLen}`, { field: "seqLen" });
  }
  const count = Math.floor(ids.length / seqLen);
  if (count === 0) {
    throw new InvalidArgumentError(
      `the calibration text has ${ids.length} tokens, fewer than one window of ${seqLen}; pass more text or a smaller seqLen`,
      { field: "tokens" },
    );
  }

  const windows: number[][] = [];
  for (let w = 0; w < count; w++) windows.push(ids.slice(w * seqLen, (w + 1) * seqLen));
  return windows;
}
