// The sweep grid (strategies × SVD modes × cache ratios) and its cells: every cell is one conversion,
// with its cache target resolved by the converter's rule before any model runs.
import { InvalidArgumentError, type ModelConfig } from "@elitekv/core";
import { resolveTarget, type ResolvedTarget, type SvdMode } from "@elitekv/converter";
import { rankingStrategies, type RankingStrategy } from "@elitekv/ropelite";

export const svdModes: readonly SvdMode[] = ["weight", "activation"];

export interface SweepGrid {
  /** Requested cache ratios, each in (0, 1]. */
  ratios: number[];
  strategies: RankingStrategy[];
  svdModes: SvdMode[];
}

/** One conversion of the sweep. */
export interface SweepCell {
  strategy: RankingStrategy;
  svd: SvdMode;
  /** The requested ratio; `target.ratio` is the ratio that (r, d_c) achieves. */
  ratio: number;
  target: ResolvedTarget;
}

/**
 * Returns the cells of `grid` in the order strategy, SVD mode, ratio (as listed). Throws
 * InvalidArgumentError for an empty or repeated entry, an unknown strategy or SVD mode, and a ratio the
 * converter cannot reach on this model, so that a bad grid fails before any ranking runs.
 */
export function planSweepCells(config: ModelConfig, grid: SweepGrid): SweepCell[] {
  requireDistinct(grid.ratios, "ratios");
  requireDistinct(grid.strategies, "strategies");
  requireDistinct(grid.svdModes, "svdModes");
  for (const strategy of grid.strategies) {
    if (!(rankingStrategies as readonly string[]).includes(strategy)) {
      throw new InvalidArgumentError(`unknown strategy ${JSON.stringify(strategy)}; use ${rankingStrategies.join(", ")}`, { field: "strategies" });
    }
  }
  for (const svd of grid.svdModes) {
    if (!svdModes.includes(svd)) {
      throw new InvalidArgumentError(`unknown SVD mode ${JSON.stringify(svd)}; use ${svdModes.join(", ")}`, { field: "svdModes" });
    }
  }

  const targets = grid.ratios.map((ratio) => resolveTarget(config, { ratio }));
  const cells: SweepCell[] = [];
  for (const strategy of grid.strategies) {
    for (const svd of grid.svdModes) {
      grid.ratios.forEach((ratio, index) => cells.push({ strategy, svd, ratio, target: targets[index] }));
    }
  }
  return cells;
}

/** Returns a short label of a cell, such as "ropelite/activation/0.25", for progress and messages. */
export function sweepCellLabel(cell: { strategy: string; svd: string; ratio: number }): string {
  return `${cell.strategy}/${cell.svd}/${cell.ratio}`;
}

function requireDistinct(values: readonly (string | number)[], field: string): void {
  if (values.length === 0) {
    throw new InvalidArgumentError(`${field} is empty; list at least one value`, { field });
  }
  const seen = new Set<string | number>();
  for (const value of values) {
    if (seen.has(value)) {
      throw new InvalidArgumentError(`${field} lists ${String(value)} twice; list each value once`, { field });
    }
    seen.add(value);
  }
}
