// Baseline chunk rankings that RoPElite is compared against: uniform spread, mean |contribution|, and
// frequency order. They return the same shape as the greedy ranking, with an empty objective.
import { InvalidArgumentError } from "@elitekv/core";

import type { ChunkTerms } from "./chunk-terms.js";
import type { HeadRanking } from "./greedy-ranking.js";

/**
 * Returns the uniform elite set for a budget of r of m chunks: floor(i (m - 1) / (r - 1)) for
 * i = 0 .. r - 1, ascending, and {0} for r = 1. For example m = 4, r = 2 gives {0, 3}.
 */
export function uniformChunkSet(chunks: number, budget: number): number[] {
  if (!Number.isSafeInteger(chunks) || chunks < 1) {
    throw new InvalidArgumentError(`chunks must be an integer >= 1, got ${String(chunks)}`, { field: "chunks" });
  }
  if (!Number.isSafeInteger(budget) || budget < 1 || budget > chunks) {
    throw new InvalidArgumentError(`budget must be an integer in [1, ${chunks}], got ${String(budget)}`, {
      field: "budget",
    });
  }
  if (budget === 1) return [0];

  // Integer arithmetic keeps floor exact, and the step (m - 1) / (r - 1) >= 1 makes the entries distinct.
  return Array.from({ length: budget }, (_, i) => Math.floor((i * (chunks - 1)) / (budget - 1)));
}

/**
 * Orders all m chunks so that the prefix of length r is the uniform set of budget r wherever the
 * sets allow it. The uniform sets are not nested (m = 8 gives {0, 3, 7} for r = 3 but {0, 2, 4, 7}
 * for r = 4), so no order matches every budget. Step r appends one chunk of the uniform set of budget
 * r that is not yet in the prefix. The prefix then equals that set whenever the previous prefix is
 * inside it. Among several such chunks it takes the one found in the most uniform sets of larger
 * budgets, then the lowest index.
 */
export function uniformRanking(chunks: number): number[] {
  const sets = Array.from({ length: chunks }, (_, r) => new Set(uniformChunkSet(chunks, r + 1)));
  const ranking: number[] = [];
  const rankedChunks = new Set<number>();

  for (let budget = 1; budget <= chunks; budget++) {
    let best = -1;
    let bestLaterCount = -1;
    for (const candidate of [...sets[budget - 1]].sort((a, b) => a - b)) {
      if (rankedChunks.has(candidate)) continue;
      let laterCount = 0;
      for (let later = budget; later < chunks; later++) if (sets[later].has(candidate)) laterCount++;
      if (laterCount > bestLaterCount) {
        best = candidate;
        bestLaterCount = laterCount;
      }
    }
    ranking.push(best);
    rankedChunks.add(best);
  }
  return ranking;
}

/**
 * Ranks chunks by the mean absolute contribution |c_j(t, s)| to the scaled logit over the sampled
 * pairs, summed over the group's query heads, largest first, the lowest index on a tie. This is the
 * absolute-value variant, so positive and negative contributions do not cancel.
 */
export function contributionRanking(terms: ChunkTerms): HeadRanking {
  const { chunks, pairs } = terms;
  const scores = new Float64Array(chunks);
  for (const contribution of terms.contribution) {
    const sums = new Float64Array(chunks);
    for (let p = 0; p < pairs; p++) {
      for (let j = 0; j < chunks; j++) sums[j] += Math.abs(contribution[p * chunks + j]);
    }
    for (let j = 0; j < chunks; j++) scores[j] += sums[j] / pairs;
  }

  const ranking = Array.from({ length: chunks }, (_, j) => j).sort((a, b) => scores[b] - scores[a] || a - b);
  return { ranking, objective: [] };
}

/** Ranks chunk 0 (the highest frequency, theta_0 = 1) first, then falling frequency. */
export function highFrequencyRanking(chunks: number): number[] {
  return Array.from({ length: chunks }, (_, j) => j);
}

/** Ranks the lowest frequency (chunk m - 1) first, then rising frequency. */
export function lowFrequencyRanking(chunks: number): number[] {
  return Array.from({ length: chunks }, (_, j) => chunks - 1 - j);
}
