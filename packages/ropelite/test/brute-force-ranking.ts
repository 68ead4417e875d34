// Reference RoPElite greedy for tests: every candidate set is scored from scratch by rotating q and k
// with core's applyRope under a keep mask and comparing the dot products with full RoPE.
import { applyRope, buildRopeTable, queryGroupSize, type ModelConfig } from "@elitekv/core";

import type { CausalPairs } from "../src/index.js";

export interface BruteForceInputs {
  config: ModelConfig;
  query: readonly Float32Array[];
  key: readonly Float32Array[];
  pairs: readonly CausalPairs[];
}

/** Returns the objective of keeping rotation on `keptChunks` for KV head `kvHead`, from scratch. */
export function bruteForceObjective(inputs: BruteForceInputs, kvHead: number, keptChunks: readonly number[]): number {
  const { config, query, key, pairs } = inputs;
  const { numHeads, numKvHeads, headDim } = config;
  const groupSize = queryGroupSize(config);
  const chunks = headDim / 2;
  const keep = Array.from({ length: chunks }, (_, j) => keptChunks.includes(j));
  const maxLength = Math.max(...key.map((array) => array.length / (numKvHeads * headDim)));
  const table = buildRopeTable(config, maxLength);

  let total = 0;
  for (let g = 0; g < groupSize; g++) {
    const head = kvHead * groupSize + g;
    let sum = 0;
    let count = 0;
    for (let w = 0; w < pairs.length; w++) {
      for (let p = 0; p < pairs[w].length / 2; p++) {
        const t = pairs[w][2 * p];
        const s = pairs[w][2 * p + 1];
        const q = Float64Array.from(query[w].subarray((t * numHeads + head) * headDim, (t * numHeads + head + 1) * headDim));
        const k = Float64Array.from(key[w].subarray((s * numKvHeads + kvHead) * headDim, (s * numKvHeads + kvHead + 1) * headDim));

        const fullQ = q.slice();
        const fullK = k.slice();
        applyRope(fullQ, 0, headDim, t, table);
        applyRope(fullK, 0, headDim, s, table);
        const partialQ = q.slice();
        const partialK = k.slice();
        applyRope(partialQ, 0, headDim, t, table, keep);
        applyRope(partialK, 0, headDim, s, table, keep);

        const scale = 1 / Math.sqrt(headDim);
        sum += Math.abs((dot(fullQ, fullK) - dot(partialQ, partialK)) * scale);
        count++;
      }
    }
    total += sum / count;
  }
  return total;
}

/** Runs the greedy with every candidate scored by bruteForceObjective. Ties take the lowest chunk. */
export function bruteForceGreedy(inputs: BruteForceInputs, kvHead: number): { ranking: number[]; objective: number[] } {
  const chunks = inputs.config.headDim / 2;
  const ranking: number[] = [];
  const objective: number[] = [];
  while (ranking.length < chunks) {
    let best = -1;
    let bestScore = Infinity;
    for (let c = 0; c < chunks; c++) {
      if (ranking.includes(c)) continue;
      const score = bruteForceObjective(inputs, kvHead, [...ranking, c]);
      if (score < bestScore) {
        best = c;
        bestScore = score;
      }
    }
    ranking.push(best);
    objective.push(bestScore);
  }
  return { ranking, objective };
}

function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}
