// The causal grouped-query attention kernel shared by the main thread and the compute workers. Scores,
// softmax and the weighted sum of values run in float64, while inputs and outputs are float32.

/** Shapes and offsets of one attention job. Keys and values are cached as [numKvHeads, capacity, headDim]. */
export interface AttentionShape {
  /** Element index of token 0's query row (numHeads * headDim values, RoPE already applied). */
  queryOffset: number;
  queryStride: number;
  keyOffset: number;
  valueOffset: number;
  /** Element index of token 0's output row (numHeads * headDim values). */
  outputOffset: number;
  tokens: number;
  /** Absolute position of token 0. Token t attends to positions 0 .. startPosition + t. */
  startPosition: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  capacity: number;
}

/**
 * Computes attention outputs for work units unitStart .. unitEnd - 1, where unit u is query head
 * floor(u / tokens) of token u % tokens. In this head-major order, consecutive units read the same
 * KV head, so a thread's range streams one head's keys and values repeatedly. Query head i reads KV head
 * floor(i / (numHeads / numKvHeads)); scores are scaled by 1 / sqrt(headDim). `scores` needs
 * startPosition + tokens entries and `accumulator` headDim entries.
 */
export function attendUnitRange(
  query: Float32Array,
  cache: Float32Array,
  output: Float32Array,
  shape: AttentionShape,
  unitStart: number,
  unitEnd: number,
  scores: Float64Array,
  accumulator: Float64Array,
): void {
  const { tokens, headDim, capacity } = shape;
  const groupSize = shape.numHeads / shape.numKvHeads;
  const scale = 1 / Math.sqrt(headDim);

  for (let unit = unitStart; unit < unitEnd; unit++) {
    const head = Math.floor(unit / tokens);
    const token = unit - head * tokens;
    const kvHead = Math.floor(head / groupSize);
    const visible = shape.startPosition + token + 1;
    const q = shape.queryOffset + token * shape.queryStride + head * headDim;
    const keyBase = shape.keyOffset + kvHead * capacity * headDim;
    const valueBase = shape.valueOffset + kvHead * capacity * headDim;

    let maxScore = -Infinity;
    for (let position = 0; position < visible; position++) {
      const k = keyBase + position * headDim;
      let dot = 0;
      for (let d = 0; d < headDim; d++) dot += query[q + d] * cache[k + d];
      const score = dot * scale;
      scores[position] = score;
      if (score > maxScore) maxScore = score;
    }

    const sum = exponentiateScores(scores, visible, maxScore);

    accumulator.fill(0, 0, headDim);
    for (let position = 0; position < visible; position++) {
      const weight = scores[position];
      const v = valueBase + position * headDim;
      for (let d = 0; d < headDim; d++) accumulator[d] += weight * cache[v + d];
    }

    const o = shape.outputOffset + token * shape.numHeads * headDim + head * headDim;
    for (let d = 0; d < headDim; d++) output[o + d] = accumulator[d] / sum;
  }
}

/**
 * Replaces scores[0 .. visible) by exp(score - maxScore) and returns their sum: the unnormalised
 * softmax. Subtracting the row maximum keeps exp() in range; callers divide by the sum.
 */
export function exponentiateScores(scores: Float64Array, visible: number, maxScore: number): number {
  let sum = 0;
  for (let position = 0; position < visible; position++) {
    const weight = Math.exp(scores[position] - maxScore);
    scores[position] = weight;
    sum += weight;
  }
  return sum;
}
