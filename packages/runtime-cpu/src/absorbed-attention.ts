// Causal attention over an EliteKV cache with the up projections absorbed: each query head scores the
// cached rotated elite key dims directly and the latent through W_uk[g]ᵀ q_nope, and its output is
// W_uv[g] applied to the softmax-weighted latent sum. Full keys and values are never built. Scores,
// softmax and sums run in float64, while inputs and outputs are float32. The main thread and the
// compute workers share this kernel, so it imports no workspace package.
import { exponentiateScores } from "./attention-kernel.js";

/** Shapes and offsets of one absorbed attention job over one layer. */
export interface AbsorbedAttentionShape {
  /** Element index of token 0's query row (numHeads * headDim values, elite dims already rotated). */
  queryOffset: number;
  queryStride: number;
  /** Element index of token 0's output row (numHeads * headDim values). */
  outputOffset: number;
  tokens: number;
  /** Absolute position of token 0. Token t attends to positions 0 .. startPosition + t. */
  startPosition: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  capacity: number;
  /** Cached rope values per KV head and token (2r). Rope keys [numKvHeads, capacity, 2r] start at element 0. */
  ropeWidth: number;
  /** Element index of the cached latent rows [capacity, latentDim]. */
  latentOffset: number;
  latentDim: number;
  /**
   * Element index of the layer's dim order [numKvHeads, headDim] in `dimOrder`: per KV head its 2r rope
   * dims in cache order (`eliteRopeDims`), then its nope dims in ascending order (`eliteNopeDims`).
   */
  dimOrderOffset: number;
  /** Element index of w_uk [numKvHeads * (headDim - 2r), latentDim] in `weights`. */
  keyUpOffset: number;
  /** Element index of w_uv [numKvHeads * headDim, latentDim] in `weights`. */
  valueUpOffset: number;
}

/** Float64 work buffers of one thread. */
export interface AbsorbedAttentionScratch {
  /** At least one entry per cached position. */
  scores: Float64Array;
  /** At least 2r entries: the rotated query's rope dims. */
  ropeQuery: Float64Array;
  /** At least latentDim entries: W_uk[g]ᵀ q_nope. */
  latentQuery: Float64Array;
  /** At least latentDim entries: the softmax-weighted latent sum. */
  latentSum: Float64Array;
}

/**
 * Computes attention outputs for work units unitStart .. unitEnd - 1, where unit u is query head
 * floor(u / tokens) of token u % tokens. Query head i reads KV head floor(i / (numHeads / numKvHeads)),
 * and scores are scaled by 1 / sqrt(headDim) as in the base model.
 */
export function attendAbsorbedUnitRange(
  query: Float32Array,
  cache: Float32Array,
  weights: Float32Array,
  dimOrder: Float32Array,
  output: Float32Array,
  shape: AbsorbedAttentionShape,
  unitStart: number,
  unitEnd: number,
  scratch: AbsorbedAttentionScratch,
): void {
  const { tokens, headDim, capacity, ropeWidth, latentOffset, latentDim } = shape;
  const data = cache;
  const { scores, ropeQuery, latentQuery, latentSum } = scratch;
  const groupSize = shape.numHeads / shape.numKvHeads;
  const nopeWidth = headDim - ropeWidth;
  const scale = 1 / Math.sqrt(headDim);

  for (let unit = unitStart; unit < unitEnd; unit++) {
    const head = Math.floor(unit / tokens);
    const token = unit - head * tokens;
    const kvHead = Math.floor(head / groupSize);
    const visible = shape.startPosition + token + 1;
    const q = shape.queryOffset + token * shape.queryStride + head * headDim;
    const ropeDims = shape.dimOrderOffset + kvHead * headDim;
    const nopeDims = ropeDims + ropeWidth;

    for (let m = 0; m < ropeWidth; m++) ropeQuery[m] = query[q + dimOrder[ropeDims + m]];

    // Absorb the key up projection into the query: q̃ = W_uk[g]ᵀ q_nope, so that q_nope · (W_uk[g] c)
    // becomes q̃ · c and the nope keys never need rebuilding.
    latentQuery.fill(0, 0, latentDim);
    for (let n = 0; n < nopeWidth; n++) {
      const value = query[q + dimOrder[nopeDims + n]];
      const row = shape.keyUpOffset + (kvHead * nopeWidth + n) * latentDim;
      for (let c = 0; c < latentDim; c++) latentQuery[c] += weights[row + c] * value;
    }

    const ropeBase = kvHead * capacity * ropeWidth;
    let maxScore = -Infinity;
    for (let position = 0; position < visible; position++) {
      const k = ropeBase + position * ropeWidth;
      let dot = 0;
      for (let m = 0; m < ropeWidth; m++) dot += ropeQuery[m] * data[k + m];
      const latent = latentOffset + position * latentDim;
      for (let c = 0; c < latentDim; c++) dot += latentQuery[c] * data[latent + c];
      const score = dot * scale;
      scores[position] = score;
      if (score > maxScore) maxScore = score;
    }

    const sum = exponentiateScores(scores, visible, maxScore);

    latentSum.fill(0, 0, latentDim);
    for (let position = 0; position < visible; position++) {
      const weight = scores[position];
      const latent = latentOffset + position * latentDim;
      for (let c = 0; c < latentDim; c++) latentSum[c] += weight * data[latent + c];
    }

    // Σ_s p_s W_uv[g] c_s = W_uv[g] Σ_s p_s c_s: one up projection per head instead of one per position.
    const o = shape.outputOffset + token * shape.numHeads * headDim + head * headDim;
    for (let d = 0; d < headDim; d++) {
      const row = shape.valueUpOffset + (kvHead * headDim + d) * latentDim;
      let value = 0;
      for (let c = 0; c < latentDim; c++) value += weights[row + c] * latentSum[c];
      output[o + d] = value / sum;
    }
  }
}
