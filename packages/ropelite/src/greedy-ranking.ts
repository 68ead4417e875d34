// The RoPElite greedy search over one KV head's chunk error terms.
import { InvalidArgumentError } from "@elitekv/core";

import type { ChunkTerms } from "./chunk-terms.js";

export interface HeadRanking {
  /** All m chunk indices, most important first. */
  ranking: number[];
  /** Objective after each greedy round (entry r - 1 is for the first r chunks), empty for baselines. */
  objective: number[];
}

/**
 * Returns the RoPElite objective for keeping rotation on `keptChunks`: the sum over the group's query heads
 * of the mean over pairs of |sum over j not in keptChunks of E_j(t, s)|.
 */
export function ropeliteObjective(terms: ChunkTerms, keptChunks: readonly number[]): number {
  const keptMask = chunkMask(terms.chunks, keptChunks);
  const dropped: number[] = [];
  for (let j = 0; j < terms.chunks; j++) if (!keptMask[j]) dropped.push(j);

  let total = 0;
  for (const error of terms.error) {
    let sum = 0;
    for (let p = 0; p < terms.pairs; p++) {
      const row = p * terms.chunks;
      let residual = 0;
      for (const j of dropped) residual += error[row + j];
      sum += Math.abs(residual);
    }
    total += sum / terms.pairs;
  }
  return total;
}

/**
 * Returns, for every chunk c not in `keptChunks`, the objective of keptChunks + {c}, and NaN for
 * chunks already kept.
 * One greedy round picks the lowest of these.
 */
export function candidateObjectives(terms: ChunkTerms, keptChunks: readonly number[]): Float64Array {
  const { chunks, pairs } = terms;
  const keptMask = chunkMask(chunks, keptChunks);
  const result = new Float64Array(chunks).fill(Number.NaN);
  const sums = new Float64Array(chunks);

  for (const error of terms.error) {
    sums.fill(0);
    for (let p = 0; p < pairs; p++) {
      const row = p * chunks;

      // The residual is summed afresh for every pair, so rounding does not build up over rounds.
      let residual = 0;
      for (let j = 0; j < chunks; j++) if (!keptMask[j]) residual += error[row + j];

      for (let c = 0; c < chunks; c++) {
        if (!keptMask[c]) sums[c] += Math.abs(residual - error[row + c]);
      }
    }
    for (let c = 0; c < chunks; c++) {
      if (!keptMask[c]) result[c] = (Number.isNaN(result[c]) ? 0 : result[c]) + sums[c] / pairs;
    }
  }
  return result;
}

/**
 * Ranks all chunks greedily from an empty kept set: each round adds the chunk whose addition gives the
 * lowest objective, the lowest chunk index on a tie. Every round scores every chunk not yet kept.
 */
export function greedyRanking(terms: ChunkTerms): HeadRanking {
  if (terms.pairs < 1 || terms.queryHeads < 1) {
    throw new InvalidArgumentError("the greedy ranking needs at least one pair and one query head", { field: "pairs" });
  }

  const ranking: number[] = [];
  const objective: number[] = [];
  for (let round = 0; round < terms.chunks; round++) {
    const scores = candidateObjectives(terms, ranking);
    let best = -1;
    for (let c = 0; c < terms.chunks; c++) {
      if (Number.isNaN(scores[c])) continue;
      if (best === -1 || scores[c] < scores[best]) best = c;
    }
    ranking.push(best);
    objective.push(scores[best]);
  }
  return { ranking, objective };
}

function chunkMask(chunks: number, keptChunks: readonly number[]): Uint8Array {
  const mask = new Uint8Array(chunks);
  for (const j of keptChunks) {
    if (!Number.isInteger(j) || j < 0 || j >= chunks) {
      throw new InvalidArgumentError(`chunk ${String(j)} is not an integer in [0, ${chunks})`, { field: "keptChunks" });
    }
    mask[j] = 1;
  }
  return mask;
}
