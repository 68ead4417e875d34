// Options and report shapes shared by the check functions.
import type { ConformanceTolerances } from "../conformance-tolerances.js";

export interface CheckOptions {
  /** Overrides of defaultConformanceTolerances. */
  tolerances?: Partial<ConformanceTolerances>;
}

/** Result of a numeric comparison that passed. */
export interface ParityReport {
  /** Largest absolute difference found. */
  maxDifference: number;
  tolerance: number;
}
