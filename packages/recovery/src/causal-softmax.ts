// Row-wise causal softmax of stacked score blocks: the scores of several query heads that share one KV
// head are stacked as [heads · tokens, tokens], so row r is the query at position r mod tokens.

/**
 * Scales every row of `scores` by `scale`, masks the columns after the row's position, and replaces
 * the row by its softmax, in place. Masked entries become exactly 0.
 */
export function causalSoftmaxInPlace(scores: Float64Array, rows: number, tokens: number, scale: number): void {
  for (let row = 0; row < rows; row++) {
    const position = row % tokens;
    const base = row * tokens;

    let max = -Infinity;
    for (let s = 0; s <= position; s++) {
      const value = scores[base + s] * scale;
      scores[base + s] = value;
      if (value > max) max = value;
    }

    let sum = 0;
    for (let s = 0; s <= position; s++) {
      const value = Math.exp(scores[base + s] - max);
      scores[base + s] = value;
      sum += value;
    }
    for (let s = 0; s <= position; s++) scores[base + s] /= sum;
    scores.fill(0, base + position + 1, base + tokens);
  }
}
