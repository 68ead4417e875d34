// Dispatch from a baseline strategy name to its ranking of one KV head.
import { InvalidArgumentError } from "@elitekv/core";

import { contributionRanking, highFrequencyRanking, lowFrequencyRanking, uniformRanking } from "./baseline-rankings.js";
import type { ChunkTerms } from "./chunk-terms.js";
import type { HeadRanking } from "./greedy-ranking.js";
import type { RankingStrategy } from "./ranking-file.js";

/** Returns the baseline ranking of one KV head. Only "contribution" needs the head's chunk terms. */
export function baselineHeadRanking(
  strategy: Exclude<RankingStrategy, "ropelite">,
  chunks: number,
  terms?: ChunkTerms,
): HeadRanking {
  switch (strategy) {
    case "uniform":
      return { ranking: uniformRanking(chunks), objective: [] };
    case "high-freq":
      return { ranking: highFrequencyRanking(chunks), objective: [] };
    case "low-freq":
      return { ranking: lowFrequencyRanking(chunks), objective: [] };
    case "contribution":
      if (terms === undefined) {
        throw new InvalidArgumentError("the contribution ranking needs chunk terms from calibration", {
          field: "terms",
        });
      }
      return contributionRanking(terms);
  }
}
