// Summary statistics of repeated measurements: median and spread (min, max, quartiles), so that a
// report shows how much runs on a shared machine varied.
import { InvalidArgumentError } from "@elitekv/core";

/** Median and spread of a set of measurements, in the measurements' own unit. */
export interface Summary {
  runs: number;
  median: number;
  min: number;
  max: number;
  /** First quartile (25th percentile, linear interpolation between order statistics). */
  q1: number;
  /** Third quartile (75th percentile). */
  q3: number;
  /** q3 − q1. */
  iqr: number;
}

/**
 * Returns the `fraction` quantile of ascending `sorted` values by linear interpolation between the
 * order statistics at rank fraction · (n − 1), the definition of NumPy's default "linear" method.
 */
export function quantile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) {
    throw new InvalidArgumentError("a quantile needs at least one value; run the measurement at least once", { field: "values" });
  }
  if (!(fraction >= 0 && fraction <= 1)) {
    throw new InvalidArgumentError(`quantile fraction must be in [0, 1], got ${fraction}`, { field: "fraction" });
  }

  const rank = fraction * (sorted.length - 1);
  const below = Math.floor(rank);
  const above = Math.ceil(rank);
  return sorted[below] + (sorted[above] - sorted[below]) * (rank - below);
}

/** Summarizes `values`. Throws InvalidArgumentError for an empty list or a value that is not finite. */
export function summarize(values: readonly number[]): Summary {
  const invalid = values.find((value) => !Number.isFinite(value));
  if (invalid !== undefined) {
    throw new InvalidArgumentError(`every measurement must be a finite number, got ${invalid}`, { field: "values" });
  }

  const sorted = [...values].sort((a, b) => a - b);
  const q1 = quantile(sorted, 0.25);
  const q3 = quantile(sorted, 0.75);
  return {
    runs: sorted.length,
    median: quantile(sorted, 0.5),
    min: sorted[0],
    max: sorted[sorted.length - 1],
    q1,
    q3,
    iqr: q3 - q1,
  };
}
