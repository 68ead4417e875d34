// Cache targets of a conversion: turns a requested cache ratio, or an explicit (r, d_c) pair, into the
// rotated chunks per KV head and the latent width, and rejects targets no conversion can reach.
import { eliteLayerRatio, InvalidArgumentError, type ModelConfig } from "@elitekv/core";

/** A requested cache size: a ratio of the full KV cache, or the rotated chunks and latent width. */
export type ConversionTarget = { ratio: number } | { ropeChunks: number; latentDim: number };

export interface ResolvedTarget {
  /** Rotated chunks kept per KV head (r). */
  ropeChunks: number;
  /** Width of the shared key/value latent (d_c). */
  latentDim: number;
  /** Achieved cache ratio (2·G·r + d_c) / (2·G·h), exact for the resolved r and d_c. */
  ratio: number;
}

/**
 * Returns the largest latent width a layer can use with `ropeChunks` rotated chunks per KV head: the
 * rank bound min(D, G·(2h − 2r)) of the D × G(2h − 2r) joint key/value matrix.
 */
export function maxLatentDim(config: ModelConfig, ropeChunks: number): number {
  return Math.min(config.hiddenSize, config.numKvHeads * (2 * config.headDim - 2 * ropeChunks));
}

/**
 * Resolves a cache target against a model. A ratio ρ alone uses the fixed rule r = max(1, round(ρ·h/4))
 * and d_c = round(ρ·2·G·h) − 2·G·r, which spends about half the budget on rotated keys.
 * Throws InvalidArgumentError naming the values that would work when the target is infeasible.
 */
export function resolveTarget(config: ModelConfig, target: ConversionTarget): ResolvedTarget {
  if ("ratio" in target) return resolveRatio(config, target.ratio);
  return resolveExplicit(config, target.ropeChunks, target.latentDim);
}

function resolveExplicit(config: ModelConfig, ropeChunks: number, latentDim: number): ResolvedTarget {
  const chunkCount = config.headDim / 2;
  if (!Number.isSafeInteger(ropeChunks) || ropeChunks < 0 || ropeChunks > chunkCount) {
    throw new InvalidArgumentError(
      `ropeChunks must be an integer in 0..${chunkCount} (headDim ${config.headDim} has ${chunkCount} RoPE chunks), got ${ropeChunks}`,
      { field: "ropeChunks" },
    );
  }

  const maxLatent = maxLatentDim(config, ropeChunks);
  if (!Number.isSafeInteger(latentDim) || latentDim < 1 || latentDim > maxLatent) {
    throw new InvalidArgumentError(
      `latentDim must be an integer in 1..${maxLatent} for ropeChunks ${ropeChunks}, got ${latentDim}; ` +
        `${maxLatent} is the rank bound min(hiddenSize ${config.hiddenSize}, numKvHeads·(2·headDim − 2·ropeChunks))`,
      { field: "latentDim" },
    );
  }

  return { ropeChunks, latentDim, ratio: eliteLayerRatio(config, ropeChunks, latentDim) };
}

function resolveRatio(config: ModelConfig, ratio: number): ResolvedTarget {
  if (!(ratio > 0 && ratio <= 1)) {
    throw new InvalidArgumentError(`ratio must be a number in (0, 1], got ${ratio}`, { field: "ratio" });
  }

  const candidate = ratioRule(config, ratio);
  if (isFeasible(config, candidate.ropeChunks, candidate.latentDim)) {
    return { ...candidate, ratio: eliteLayerRatio(config, candidate.ropeChunks, candidate.latentDim) };
  }

  const range = feasibleRatioRange(config);
  const advice =
    range === undefined
      ? "no ratio works with this rule; pass ropeChunks and latentDim instead"
      : `ratios from ${formatRatio(range.min)} to ${formatRatio(range.max)} work for this model, or pass ropeChunks and latentDim`;
  throw new InvalidArgumentError(
    `ratio ${ratio} gives ropeChunks ${candidate.ropeChunks} and latentDim ${candidate.latentDim}, but latentDim must be in ` +
      `1..${maxLatentDim(config, candidate.ropeChunks)}; ${advice}`,
    { field: "ratio" },
  );
}

function ratioRule(config: ModelConfig, ratio: number): { ropeChunks: number; latentDim: number } {
  const fullWidth = 2 * config.numKvHeads * config.headDim;
  const ropeChunks = Math.min(config.headDim / 2, Math.max(1, Math.round((ratio * config.headDim) / 4)));
  const latentDim = Math.round(ratio * fullWidth) - 2 * config.numKvHeads * ropeChunks;
  return { ropeChunks, latentDim };
}

function isFeasible(config: ModelConfig, ropeChunks: number, latentDim: number): boolean {
  return latentDim >= 1 && latentDim <= maxLatentDim(config, ropeChunks);
}

/**
 * Returns the smallest and largest ratio on the grid k / (2·G·h) that the ratio rule can reach. Every
 * achievable ratio lies on that grid, so the bounds are exact for the rule.
 */
function feasibleRatioRange(config: ModelConfig): { min: number; max: number } | undefined {
  const fullWidth = 2 * config.numKvHeads * config.headDim;
  let min: number | undefined;
  let max: number | undefined;
  for (let cached = 1; cached <= fullWidth; cached++) {
    const ratio = cached / fullWidth;
    const candidate = ratioRule(config, ratio);
    if (!isFeasible(config, candidate.ropeChunks, candidate.latentDim)) continue;
    min ??= ratio;
    max = ratio;
  }
  return min === undefined || max === undefined ? undefined : { min, max };
}

function formatRatio(ratio: number): string {
  return String(Math.round(ratio * 1e6) / 1e6);
}
