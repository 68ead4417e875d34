import { describe, expect, it } from "vitest";

import {
  candidateObjectives,
  computeChunkTerms,
  greedyRanking,
  ropeliteObjective,
  sampleCausalPairs,
  type ChunkTerms,
} from "../src/index.js";
import { bruteForceGreedy, bruteForceObjective } from "./brute-force-ranking.js";
import { randomArray, syntheticConfig } from "./synthetic-capture.js";

function closeRelative(actual: number, expected: number, relative = 1e-9): boolean {
  return Math.abs(actual - expected) <= relative * Math.max(Math.abs(actual), Math.abs(expected));
}

function termsFromErrors(chunks: number, rows: number[][][]): ChunkTerms {
  const pairs = rows[0].length;
  return {
    queryHeads: rows.length,
    pairs,
    chunks,
    error: rows.map((head) => Float64Array.from(head.flat())),
    contribution: rows.map(() => new Float64Array(pairs * chunks)),
  };
}

describe("greedyRanking", () => {
  it("follows a hand-computed example", () => {
    // One head, two pairs, three chunks. Kept {} -> |6|, |-3| = 4.5 mean. Round 1 drops chunk c from the
    // residual: c=0 -> |2|,|-1| = 1.5, c=1 -> |3|,|0| = 1.5, c=2 -> |7|,|-5| = 6. Tie 0/1 -> chunk 0.
    // Round 2 from {0}: c=1 -> |-1|,|2| = 1.5, c=2 -> |3|,|-3| = 3. Round 3 -> 0.
    const terms = termsFromErrors(3, [
      [
        [4, 3, -1],
        [-2, -3, 2],
      ],
    ]);

    const result = greedyRanking(terms);

    expect(result.ranking).toEqual([0, 1, 2]);
    expect(result.objective).toEqual([1.5, 1.5, 0]);
    expect(ropeliteObjective(terms, [])).toBe(4.5);
  });

  it("breaks ties by the lowest chunk", () => {
    const terms = termsFromErrors(4, [[[0, 0, 0, 0]]]);

    expect(greedyRanking(terms)).toEqual({ ranking: [0, 1, 2, 3], objective: [0, 0, 0, 0] });
  });

  it("scores every chunk in the first round", () => {
    // Chunk 0 carries no error, so a first round that only compared chunk 0 with itself would pick it.
    // Residuals are 6 and 3, and keeping c removes its column: c=0 -> 6 + 3, c=1 -> 1 + 1, c=2 -> 5 + 4.
    const terms = termsFromErrors(3, [[[0, 5, 1]], [[0, 4, -1]]]);

    const first = candidateObjectives(terms, []);

    expect(Array.from(first)).toEqual([9, 2, 9]);
    expect(greedyRanking(terms).ranking).toEqual([1, 2, 0]);
  });

  it("marks kept chunks as NaN", () => {
    const terms = termsFromErrors(3, [[[1, 2, 3]]]);

    const scores = candidateObjectives(terms, [1]);

    expect(Number.isNaN(scores[1])).toBe(true);
    expect(scores[0]).toBe(3);
    expect(scores[2]).toBe(1);
  });
});

describe("greedyRanking with grouped-query attention", () => {
  // 4 query heads share 2 KV heads. The two query heads of KV head 1 are built to disagree: head 2 has
  // only chunk 0 and head 3 only chunk 3, so the group's ranking must weigh both.
  const config = syntheticConfig(4, 2, 8);
  const length = 48;
  const query = randomArray(length * 4 * 8, 21);
  const key = randomArray(length * 2 * 8, 22);
  for (let t = 0; t < length; t++) {
    for (let d = 0; d < 8; d++) {
      const chunk = d % 4;
      if (chunk !== 0) query[(t * 4 + 2) * 8 + d] = 0;
      if (chunk !== 3) query[(t * 4 + 3) * 8 + d] = 0;
      query[(t * 4 + 3) * 8 + d] *= 20;
    }
  }
  const pairs = sampleCausalPairs(1, length, 300, 4);
  const inputs = { config, query: [query], key: [key], pairs };

  it("matches the brute-force greedy per KV head", () => {
    for (let kvHead = 0; kvHead < 2; kvHead++) {
      const fast = greedyRanking(computeChunkTerms(inputs, kvHead));
      const reference = bruteForceGreedy(inputs, kvHead);

      expect(fast.ranking).toEqual(reference.ranking);
      fast.objective.forEach((value, round) => expect(closeRelative(value, reference.objective[round])).toBe(true));
    }
  });

  it("sums the objective over the group's query heads", () => {
    const terms = computeChunkTerms(inputs, 1);

    expect(terms.queryHeads).toBe(2);
    // Head 2 errs only on chunk 0 and head 3 only on chunk 3, with 20x larger values.
    const onlyHead2 = bruteForceObjective(inputs, 1, [1, 2, 3]);
    const onlyHead3 = bruteForceObjective(inputs, 1, [0, 1, 2]);
    expect(closeRelative(ropeliteObjective(terms, [1, 2, 3]), onlyHead2)).toBe(true);
    expect(closeRelative(ropeliteObjective(terms, [0, 1, 2]), onlyHead3)).toBe(true);
    expect(closeRelative(ropeliteObjective(terms, [1, 2]), onlyHead2 + onlyHead3)).toBe(true);

    // Chunks 1 and 2 carry no error in this group, so the first two rounds keep chunks 0 and 3.
    const result = greedyRanking(terms);
    expect([...result.ranking.slice(0, 2)].sort()).toEqual([0, 3]);
    expect(result.objective[0]).toBeGreaterThan(0);
    expect(result.objective[1]).toBe(0);
  });

  it("differs between the two KV heads", () => {
    expect(greedyRanking(computeChunkTerms(inputs, 1)).ranking).not.toEqual(
      greedyRanking(computeChunkTerms(inputs, 0)).ranking,
    );
  });
});
