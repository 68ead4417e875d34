// Candidate splits of one cache budget between rotated keys and the latent: for a ratio ρ, the values
// of r around the fixed rule's choice that leave a feasible latent width, each with its d_c. The
// caller scores them (for example by perplexity on calibration text) and keeps the best.
import { eliteLayerRatio, InvalidArgumentError, type ModelConfig } from "@elitekv/core";

import { maxLatentDim, resolveTarget, type ResolvedTarget } from "./resolve-target.js";

/**
 * Multiples of the rule's r that the search tries by default. The rule spends about half the budget on
 * rotated keys; these span a quarter to three quarters of it.
 */
export const defaultRuleMultiples: readonly number[] = [0.5, 1, 1.5, 2, 3];

/**
 * Returns the distinct feasible targets whose r is the rule's r times each of `multiples` (rounded,
 * at least 1), each with d_c = round(ρ·2·G·h) − 2·G·r, in ascending r. The rule's own target is always
 * among them. Throws InvalidArgumentError for a ratio the rule cannot reach.
 */
export function ropeChunkCandidates(config: ModelConfig, ratio: number, multiples: readonly number[] = defaultRuleMultiples): ResolvedTarget[] {
  const rule = resolveTarget(config, { ratio });
  const budget = Math.round(ratio * 2 * config.numKvHeads * config.headDim);
  const chunkCount = config.headDim / 2;

  const seen = new Set<number>();
  const candidates: ResolvedTarget[] = [];
  for (const multiple of multiples) {
    const ropeChunks = Math.min(chunkCount, Math.max(1, Math.round(rule.ropeChunks * multiple)));
    if (seen.has(ropeChunks)) continue;
    seen.add(ropeChunks);

    const latentDim = budget - 2 * config.numKvHeads * ropeChunks;
    if (latentDim < 1 || latentDim > maxLatentDim(config, ropeChunks)) continue;
    candidates.push({ ropeChunks, latentDim, ratio: eliteLayerRatio(config, ropeChunks, latentDim) });
  }

  if (candidates.length === 0) {
    throw new InvalidArgumentError(`ratio ${ratio} leaves no feasible split of rotated keys and latent`, { field: "ratio" });
  }
  return candidates.sort((a, b) => a.ropeChunks - b.ropeChunks);
}
