// Throughput targets, printed and never asserted: a measured rate must reach `required` times a
// reference rate. A missing side yields pass null and the reason, so a partial run still reports.

export interface ThroughputTarget {
  name: string;
  /** The target in words, such as "EliteKV 25% decode at 8192 >= 1.4 x full-cache decode at 8192". */
  description: string;
  measured: number | null;
  reference: number | null;
  /** measured / reference, or null when a side is missing. */
  ratio: number | null;
  required: number;
  /** True when ratio >= required, null when the target could not be evaluated. */
  pass: boolean | null;
  /** Reason pass is null. */
  reason?: string;
}

/** Evaluates measured / reference >= required. `missingReason` explains a null side. */
export function evaluateThroughputTarget(input: {
  name: string;
  description: string;
  measured: number | undefined;
  reference: number | undefined;
  required: number;
  missingReason: string;
}): ThroughputTarget {
  const { name, description, required } = input;
  const measured = input.measured ?? null;
  const reference = input.reference ?? null;
  const usable = measured !== null && reference !== null && Number.isFinite(measured) && Number.isFinite(reference) && reference > 0;
  if (!usable) {
    return { name, description, measured, reference, ratio: null, required, pass: null, reason: input.missingReason };
  }

  const ratio = measured / reference;
  return { name, description, measured, reference, ratio, required, pass: ratio >= required };
}
