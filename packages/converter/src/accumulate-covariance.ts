// Accumulation of Xᵀ X over calibration batches, for the activation-aware J-LRD.
import { createMatrix, InvalidArgumentError, type Matrix } from "@elitekv/core";

/**
 * Adds Xᵀ X of `attentionInputs` ([tokens, hidden], row-major) to `into`, or to a new hidden × hidden
 * matrix, and returns it. Sums in float64, so batches can be added in any order.
 */
export function accumulateCovariance(attentionInputs: Float32Array, tokens: number, hidden: number, into?: Matrix): Matrix {
  if (!Number.isSafeInteger(tokens) || !Number.isSafeInteger(hidden) || tokens < 0 || hidden < 1) {
    throw new InvalidArgumentError(`tokens and hidden must be non-negative integers (hidden ≥ 1), got ${tokens} and ${hidden}`);
  }
  if (attentionInputs.length !== tokens * hidden) {
    throw new InvalidArgumentError(
      `attention inputs have ${attentionInputs.length} values but ${tokens} tokens × ${hidden} hidden needs ${tokens * hidden}`,
      { field: "attentionInputs" },
    );
  }
  const covariance = into ?? createMatrix(hidden, hidden);
  if (covariance.rows !== hidden || covariance.cols !== hidden) {
    throw new InvalidArgumentError(`the covariance to add to is ${covariance.rows}x${covariance.cols}, expected ${hidden}x${hidden}`, {
      field: "into",
    });
  }

  // Only the upper triangle is summed; the lower one is mirrored at the end.
  const sums = covariance.data;
  for (let t = 0; t < tokens; t++) {
    const row = t * hidden;
    for (let i = 0; i < hidden; i++) {
      const xi = attentionInputs[row + i];
      if (xi === 0) continue;
      const out = i * hidden;
      for (let j = i; j < hidden; j++) sums[out + j] += xi * attentionInputs[row + j];
    }
  }
  for (let i = 0; i < hidden; i++) {
    for (let j = 0; j < i; j++) sums[i * hidden + j] = sums[j * hidden + i];
  }
  return covariance;
}
