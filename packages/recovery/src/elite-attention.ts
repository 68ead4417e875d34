// The converted (EliteKV) attention of one layer on given inputs, split where recovery needs it: the
// attended latents A (per query head the softmax-weighted sum of the cached latents), and the block
// output Ŷ = Σ_h wo_h · w_uv[g(h)] · A_h. With the attention probabilities fixed, Ŷ is linear in wo and
// in w_uv, which is what the least-squares fit of the value path relies on. The scores match the
// absorbed attention of the runtimes: rotated elite dims against the rotated rope keys, plus
// (W_uk[g]ᵀ q_nope) · c, scaled by 1 / sqrt(headDim).
import {
  applyRope,
  createMatrix,
  eliteNopeDims,
  eliteRopeDims,
  type EliteLayerConfig,
  type MatmulProvider,
  type Matrix,
  type ModelConfig,
  transpose,
  type RopeTable,
} from "@elitekv/core";

import { causalSoftmaxInPlace } from "./causal-softmax.js";
import type { EliteAttentionWeights } from "./layer-weights.js";

/**
 * Returns the attended latents [tokens, numHeads · latentDim] of inputs `x` [tokens, hidden]: row t,
 * block h is Σ_s p_h(t, s) c_s over positions s ≤ t.
 */
export async function eliteAttendedLatents(
  config: ModelConfig,
  layer: EliteLayerConfig,
  weights: EliteAttentionWeights,
  x: Matrix,
  table: RopeTable,
  matmul: MatmulProvider,
): Promise<Matrix> {
  const { numHeads, numKvHeads, headDim } = config;
  const tokens = x.rows;
  const groupSize = numHeads / numKvHeads;
  const r = layer.ropeChunks[0]?.length ?? 0;
  const ropeWidth = 2 * r;
  const nopeWidth = headDim - ropeWidth;
  const latentDim = layer.latentDim;
  const half = headDim / 2;

  const query = await matmul.multiply(x, weights.queryT);
  const ropeKey = await matmul.multiply(x, weights.ropeKeyT);
  const latent = await matmul.multiply(x, weights.latentDownT);

  const attended = createMatrix(tokens, numHeads * latentDim);
  for (let kvHead = 0; kvHead < numKvHeads; kvHead++) {
    const chunks = layer.ropeChunks[kvHead];
    const keep = new Array<boolean>(half).fill(false);
    for (const chunk of chunks) keep[chunk] = true;
    const ropeDims = eliteRopeDims(headDim, chunks);
    const nopeDims = eliteNopeDims(headDim, chunks);

    // Rotate the elite chunks of the group's queries and gather [rope dims | nope dims] per query row.
    const ropeQuery = createMatrix(groupSize * tokens, ropeWidth);
    const nopeQuery = createMatrix(groupSize * tokens, nopeWidth);
    for (let member = 0; member < groupSize; member++) {
      const head = kvHead * groupSize + member;
      for (let t = 0; t < tokens; t++) {
        const offset = (t * numHeads + head) * headDim;
        applyRope(query.data, offset, headDim, t, table, keep);
        const row = member * tokens + t;
        for (let m = 0; m < ropeWidth; m++) ropeQuery.data[row * ropeWidth + m] = query.data[offset + ropeDims[m]];
        for (let n = 0; n < nopeWidth; n++) nopeQuery.data[row * nopeWidth + n] = query.data[offset + nopeDims[n]];
      }
    }

    // Absorb W_uk[g] into the query: q̃ = q_nope · W_uk[g], so that its dot product with c is q_nope · k_nope.
    const keyUp = createMatrix(nopeWidth, latentDim, weights.keyUp.data.subarray(kvHead * nopeWidth * latentDim, (kvHead + 1) * nopeWidth * latentDim));
    const latentQuery = await matmul.multiply(nopeQuery, keyUp);

    // Combined query [rope | latent] and key [rotated rope key | latent], so one product gives every score.
    const width = ropeWidth + latentDim;
    const combinedQuery = createMatrix(groupSize * tokens, width);
    for (let row = 0; row < groupSize * tokens; row++) {
      combinedQuery.data.set(ropeQuery.data.subarray(row * ropeWidth, (row + 1) * ropeWidth), row * width);
      combinedQuery.data.set(latentQuery.data.subarray(row * latentDim, (row + 1) * latentDim), row * width + ropeWidth);
    }
    const combinedKeyT = createMatrix(width, tokens);
    for (let t = 0; t < tokens; t++) {
      const keyRow = t * numKvHeads * ropeWidth + kvHead * ropeWidth;
      for (let m = 0; m < r; m++) {
        const chunk = chunks[m];
        const cos = table.cos[t * table.chunks + chunk];
        const sin = table.sin[t * table.chunks + chunk];
        const a = ropeKey.data[keyRow + m];
        const b = ropeKey.data[keyRow + m + r];
        combinedKeyT.data[m * tokens + t] = a * cos - b * sin;
        combinedKeyT.data[(m + r) * tokens + t] = a * sin + b * cos;
      }
      for (let c = 0; c < latentDim; c++) combinedKeyT.data[(ropeWidth + c) * tokens + t] = latent.data[t * latentDim + c];
    }

    const scores = await matmul.multiply(combinedQuery, combinedKeyT);
    causalSoftmaxInPlace(scores.data, scores.rows, tokens, 1 / Math.sqrt(headDim));
    const sums = await matmul.multiply(scores, latent);
    for (let member = 0; member < groupSize; member++) {
      const head = kvHead * groupSize + member;
      for (let t = 0; t < tokens; t++) {
        const from = (member * tokens + t) * latentDim;
        attended.data.set(sums.data.subarray(from, from + latentDim), (t * numHeads + head) * latentDim);
      }
    }
  }
  return attended;
}

/**
 * Returns B [numHeads · latentDim, numHeads · headDim], block diagonal with block h = w_uv[g(h)]ᵀ, so
 * that A · B stacks every head's value output w_uv[g(h)] · A_h.
 */
export function valueUpBlockMatrix(config: ModelConfig, valueUp: Matrix): Matrix {
  const { numHeads, numKvHeads, headDim } = config;
  const latentDim = valueUp.cols;
  const groupSize = numHeads / numKvHeads;
  const blocks = createMatrix(numHeads * latentDim, numHeads * headDim);
  for (let head = 0; head < numHeads; head++) {
    const kvHead = Math.floor(head / groupSize);
    for (let c = 0; c < latentDim; c++) {
      const row = (head * latentDim + c) * blocks.cols + head * headDim;
      for (let d = 0; d < headDim; d++) blocks.data[row + d] = valueUp.data[(kvHead * headDim + d) * latentDim + c];
    }
  }
  return blocks;
}

/** Returns the block output Ŷ [tokens, hidden] of attended latents `attended` under w_uv and wo. */
export async function eliteAttentionOutput(
  config: ModelConfig,
  attended: Matrix,
  valueUp: Matrix,
  output: Matrix,
  matmul: MatmulProvider,
): Promise<Matrix> {
  const values = await matmul.multiply(attended, valueUpBlockMatrix(config, valueUp));
  return matmul.multiply(values, transpose(output));
}
