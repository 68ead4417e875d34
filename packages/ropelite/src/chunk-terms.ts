// Per-chunk terms of the attention logit on sampled causal pairs, for the query heads of one KV head.
//
// With pre-rotation q (position t) and k (position s) in the "half" layout, chunk j = dims (a, b) =
// (j, j + h/2) and delta = t - s, RoPE gives the scaled logit l(t, s) = sum_j c_j with
//   c_j = [(q_a k_a + q_b k_b) cos(delta theta_j) + (q_a k_b - q_b k_a) sin(delta theta_j)] / sqrt(h).
// Dropping the rotation of chunk j replaces c_j by (q_a k_a + q_b k_b) / sqrt(h), so the logit error of
// a kept set S is sum over j not in S of E_j, with E_j = c_j - (q_a k_a + q_b k_b) / sqrt(h).
import { InvalidArgumentError, queryGroupSize, ropeInverseFrequencies, type ModelConfig } from "@elitekv/core";

import type { CausalPairs } from "./calibration-windows.js";

export interface ChunkTerms {
  /** Query heads that share the KV head. */
  queryHeads: number;
  /** Sampled pairs over all windows. */
  pairs: number;
  /** RoPE chunks per head (m = h / 2). */
  chunks: number;
  /** Per query head of the group, [pairs, chunks]: E_j(t, s), the logit error of dropping chunk j's rotation. */
  error: Float64Array[];
  /** Per query head of the group, [pairs, chunks]: c_j(t, s), chunk j's rotated contribution to the logit. */
  contribution: Float64Array[];
}

export interface ChunkTermInputs {
  config: ModelConfig;
  /** One array per window, [length, numHeads, headDim]. */
  query: readonly Float32Array[];
  /** One array per window, [length, numKvHeads, headDim]. */
  key: readonly Float32Array[];
  /** One pair list per window. */
  pairs: readonly CausalPairs[];
}

/**
 * Computes E_j and c_j in float64 for KV head `kvHead` on every sampled pair. Query head i belongs to
 * KV head floor(i / (H / G)), so the group is heads kvHead * H/G .. (kvHead + 1) * H/G - 1.
 */
export function computeChunkTerms(inputs: ChunkTermInputs, kvHead: number): ChunkTerms {
  const { config, query, key, pairs } = inputs;
  const { numHeads, numKvHeads, headDim } = config;
  if (config.rope.rotaryDim !== headDim) {
    // NOTE: partial rotary dims would need chunks that never rotate, and no supported model has them.
    throw new InvalidArgumentError(
      `rope.rotaryDim ${config.rope.rotaryDim} differs from headDim ${headDim}; RoPElite needs every dim to rotate`,
      { field: "rope.rotaryDim" },
    );
  }
  if (query.length !== key.length || query.length !== pairs.length) {
    throw new InvalidArgumentError(
      `got ${query.length} query, ${key.length} key and ${pairs.length} pair windows; they must match`,
      { field: "pairs" },
    );
  }
  if (!Number.isSafeInteger(kvHead) || kvHead < 0 || kvHead >= numKvHeads) {
    throw new InvalidArgumentError(`kvHead ${String(kvHead)} is not an integer in [0, ${numKvHeads})`, { field: "kvHead" });
  }

  const chunks = headDim / 2;
  const groupSize = queryGroupSize(config);
  const frequencies = ropeInverseFrequencies(config.rope);
  const scale = 1 / Math.sqrt(headDim);
  const totalPairs = pairs.reduce((sum, list) => sum + list.length / 2, 0);

  const error = Array.from({ length: groupSize }, () => new Float64Array(totalPairs * chunks));
  const contribution = Array.from({ length: groupSize }, () => new Float64Array(totalPairs * chunks));

  let pairOffset = 0;
  for (let w = 0; w < pairs.length; w++) {
    const windowPairs = pairs[w];
    const windowQuery = query[w];
    const windowKey = key[w];
    const windowLength = windowKey.length / (numKvHeads * headDim);

    for (let p = 0; p < windowPairs.length / 2; p++) {
      const t = windowPairs[2 * p];
      const s = windowPairs[2 * p + 1];
      if (!(s >= 0 && s <= t && t < windowLength)) {
        throw new InvalidArgumentError(
          `pair (t = ${t}, s = ${s}) of window ${w} is not causal inside its ${windowLength} positions`,
          { field: "pairs" },
        );
      }
      const delta = t - s;
      const keyBase = (s * numKvHeads + kvHead) * headDim;

      for (let g = 0; g < groupSize; g++) {
        const queryBase = (t * numHeads + kvHead * groupSize + g) * headDim;
        const row = (pairOffset + p) * chunks;
        for (let j = 0; j < chunks; j++) {
          const qa = windowQuery[queryBase + j];
          const qb = windowQuery[queryBase + j + chunks];
          const ka = windowKey[keyBase + j];
          const kb = windowKey[keyBase + j + chunks];
          const dot = qa * ka + qb * kb;
          const cross = qa * kb - qb * ka;
          const angle = delta * frequencies[j];
          const cos = Math.cos(angle);
          const sin = Math.sin(angle);
          contribution[g][row + j] = (dot * cos + cross * sin) * scale;
          error[g][row + j] = (dot * (cos - 1) + cross * sin) * scale;
        }
      }
    }
    pairOffset += windowPairs.length / 2;
  }

  return { queryHeads: groupSize, pairs: totalPairs, chunks, error, contribution };
}
