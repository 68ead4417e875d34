// The error every conformance check throws when the backend under test disagrees with the reference or
// breaks the session contract. It carries the measured difference, so that tests can assert on it.

export type ConformanceCheckName =
  | "prefill"
  | "decode"
  | "cache-accounting"
  | "capture"
  | "invalid-input"
  | "continuation"
  | "lossless-conversion";

export interface ConformanceMismatchDetails {
  check: ConformanceCheckName;
  /** The model and variant, as ReferenceResults.label names them. */
  label: string;
  /** Largest absolute difference found, for numeric comparisons. */
  maxDifference?: number;
  tolerance?: number;
  /** Where the difference is largest, or which call broke the contract ("decode step 3, logit 17"). */
  location?: string;
}

export class ConformanceMismatchError extends Error {
  readonly check: ConformanceCheckName;
  readonly label: string;
  readonly maxDifference: number | undefined;
  readonly tolerance: number | undefined;
  readonly location: string | undefined;

  constructor(message: string, details: ConformanceMismatchDetails, options?: { cause?: unknown }) {
    super(`${details.label}, ${details.check}: ${message}`, options);
    this.name = "ConformanceMismatchError";
    this.check = details.check;
    this.label = details.label;
    this.maxDifference = details.maxDifference;
    this.tolerance = details.tolerance;
    this.location = details.location;
  }
}
