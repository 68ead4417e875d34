// Numeric comparisons with tolerances defined once for the whole repository.

export const tolerances = {
  /** Max absolute logit difference against the fp64 golden references. */
  goldenLogits: 1e-4,
  /** Relative perplexity difference against the golden references. */
  goldenPerplexity: 0.005,
  /** Max absolute difference between two float32 paths that compute the same thing. */
  float32Parity: 1e-5,
  /** Max absolute logit difference between two backends, whose float32 sums run in different orders. */
  crossBackendLogits: 1e-4,
  /**
   * Relative PPL and KL difference against quality figures recorded from an earlier run of the same
   * conversion on the CPU backend. The pipeline is deterministic, so this only absorbs summation order.
   */
  recordedQuality: 1e-3,
} as const;

/** Returns the largest |a[i] - b[i]|; throws when the lengths differ. */
export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const difference = Math.abs(a[i] - b[i]);
    if (!(difference <= max)) max = Number.isNaN(difference) ? Infinity : difference;
  }
  return max;
}

/** Returns |actual - expected| / |expected|. */
export function relativeDifference(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.abs(expected);
}
