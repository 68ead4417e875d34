import { InvalidArgumentError } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import {
  baselineHeadRanking,
  contributionRanking,
  highFrequencyRanking,
  lowFrequencyRanking,
  uniformChunkSet,
  uniformRanking,
  type ChunkTerms,
} from "../src/index.js";

describe("uniformChunkSet", () => {
  it("spreads the budget over the chunks", () => {
    expect(uniformChunkSet(4, 2)).toEqual([0, 3]);
    expect(uniformChunkSet(4, 3)).toEqual([0, 1, 3]);
    expect(uniformChunkSet(8, 4)).toEqual([0, 2, 4, 7]);
    expect(uniformChunkSet(64, 8)).toEqual([0, 9, 18, 27, 36, 45, 54, 63]);
    expect(uniformChunkSet(8, 1)).toEqual([0]);
    expect(uniformChunkSet(8, 8)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("rejects a budget above the chunk count", () => {
    expect(() => uniformChunkSet(4, 5)).toThrow(InvalidArgumentError);
    expect(() => uniformChunkSet(4, 0)).toThrow(/budget must be an integer in \[1, 4\]/);
  });
});

describe("uniformRanking", () => {
  it("matches every uniform set for m = 4", () => {
    const ranking = uniformRanking(4);

    expect(ranking).toEqual([0, 3, 1, 2]);
    for (let r = 1; r <= 4; r++) expect(ranking.slice(0, r).sort((a, b) => a - b)).toEqual(uniformChunkSet(4, r));
  });

  it("follows the documented construction for m = 8", () => {
    const ranking = uniformRanking(8);

    // r = 4 may take 2 or 4 (both in every larger set): the lowest index wins. Prefixes match the
    // uniform sets of r = 1, 2, 3, 7 and 8, because the sets for r = 4, 5, 6 are not nested with r = 3.
    expect(ranking).toEqual([0, 7, 3, 2, 1, 4, 5, 6]);
    for (const r of [1, 2, 3, 7, 8]) {
      expect(ranking.slice(0, r).sort((a, b) => a - b)).toEqual(uniformChunkSet(8, r));
    }
  });

  it("is a permutation for many sizes", () => {
    for (let m = 1; m <= 64; m++) {
      expect([...uniformRanking(m)].sort((a, b) => a - b)).toEqual(Array.from({ length: m }, (_, j) => j));
    }
  });
});

describe("frequency rankings", () => {
  it("orders by frequency", () => {
    expect(highFrequencyRanking(4)).toEqual([0, 1, 2, 3]);
    expect(lowFrequencyRanking(4)).toEqual([3, 2, 1, 0]);
    expect(baselineHeadRanking("high-freq", 3)).toEqual({ ranking: [0, 1, 2], objective: [] });
    expect(baselineHeadRanking("low-freq", 3)).toEqual({ ranking: [2, 1, 0], objective: [] });
    expect(baselineHeadRanking("uniform", 4)).toEqual({ ranking: [0, 3, 1, 2], objective: [] });
  });
});

describe("contributionRanking", () => {
  it("ranks by mean absolute contribution", () => {
    // Head sums of mean |c_j|: chunk 0 = 1 + 0, chunk 1 = 3 + 0.5, chunk 2 = 0.5 + 3, chunk 3 = 2 + 2.
    // Chunk 1 and 2 tie at 3.5, so chunk 1 comes first. Signed sums would rank chunk 0 differently.
    const terms: ChunkTerms = {
      queryHeads: 2,
      pairs: 2,
      chunks: 4,
      error: [new Float64Array(8), new Float64Array(8)],
      contribution: [Float64Array.from([1, 3, -0.5, 2, -1, -3, 0.5, -2]), Float64Array.from([0, 0.5, 3, 2, 0, -0.5, -3, 2])],
    };

    expect(contributionRanking(terms)).toEqual({ ranking: [3, 1, 2, 0], objective: [] });
  });

  it("needs chunk terms", () => {
    expect(() => baselineHeadRanking("contribution", 4)).toThrow(InvalidArgumentError);
  });
});
