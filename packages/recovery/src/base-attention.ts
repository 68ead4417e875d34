// The base model's attention block on given inputs: the target of layer-wise recovery. For one window
// of normalised attention inputs X (positions 0 .. tokens − 1) it returns the block output after o_proj,
// computed in float64 with full RoPE and causal grouped-query attention, as the base layer computes it.
import { applyRope, createMatrix, type MatmulProvider, type Matrix, type ModelConfig, type RopeTable } from "@elitekv/core";

import { causalSoftmaxInPlace } from "./causal-softmax.js";
import type { BaseAttentionWeights } from "./layer-weights.js";

/** Returns the block output [tokens, hidden] of the base attention for inputs `x` [tokens, hidden]. */
export async function baseAttentionOutput(
  config: ModelConfig,
  weights: BaseAttentionWeights,
  x: Matrix,
  table: RopeTable,
  matmul: MatmulProvider,
): Promise<Matrix> {
  const { numHeads, numKvHeads, headDim } = config;
  const tokens = x.rows;
  const groupSize = numHeads / numKvHeads;

  const query = await matmul.multiply(x, weights.queryT);
  const key = await matmul.multiply(x, weights.keyT);
  const value = await matmul.multiply(x, weights.valueT);
  for (let t = 0; t < tokens; t++) {
    for (let head = 0; head < numHeads; head++) applyRope(query.data, (t * numHeads + head) * headDim, headDim, t, table);
    for (let kvHead = 0; kvHead < numKvHeads; kvHead++) applyRope(key.data, (t * numKvHeads + kvHead) * headDim, headDim, t, table);
  }

  // Per KV head, the queries of its group are stacked so that scores and the weighted values are one
  // product each: [groupSize · tokens, headDim] · [headDim, tokens].
  const attended = createMatrix(tokens, numHeads * headDim);
  for (let kvHead = 0; kvHead < numKvHeads; kvHead++) {
    const stackedQuery = createMatrix(groupSize * tokens, headDim);
    for (let member = 0; member < groupSize; member++) {
      const head = kvHead * groupSize + member;
      for (let t = 0; t < tokens; t++) {
        const from = (t * numHeads + head) * headDim;
        stackedQuery.data.set(query.data.subarray(from, from + headDim), (member * tokens + t) * headDim);
      }
    }
    const keyT = createMatrix(headDim, tokens);
    const groupValue = createMatrix(tokens, headDim);
    for (let t = 0; t < tokens; t++) {
      const from = (t * numKvHeads + kvHead) * headDim;
      for (let d = 0; d < headDim; d++) keyT.data[d * tokens + t] = key.data[from + d];
      groupValue.data.set(value.data.subarray(from, from + headDim), t * headDim);
    }

    const scores = await matmul.multiply(stackedQuery, keyT);
    causalSoftmaxInPlace(scores.data, scores.rows, tokens, 1 / Math.sqrt(headDim));
    const output = await matmul.multiply(scores, groupValue);
    for (let member = 0; member < groupSize; member++) {
      const head = kvHead * groupSize + member;
      for (let t = 0; t < tokens; t++) {
        const from = (member * tokens + t) * headDim;
        attended.data.set(output.data.subarray(from, from + headDim), t * numHeads * headDim + head * headDim);
      }
    }
  }

  return matmul.multiply(attended, weights.outputT);
}
