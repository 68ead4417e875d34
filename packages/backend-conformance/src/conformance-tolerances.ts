// Numeric tolerances of the conformance checks, defined once. Every comparison is a maximum absolute
// difference over float32 values, and a NaN or an infinity counts as an infinite difference.
import { InvalidArgumentError } from "@elitekv/core";

export interface ConformanceTolerances {
  /**
   * Logits of the backend against the reference backend, in prefill, decode, continuation and after
   * errors or a reset.
   */
  logits: number;
  /** Captured queries, keys and attention inputs against the reference backend. */
  capture: number;
  /**
   * Two runs of the same backend that compute the same values in a different batching: "last" logits
   * against the last row of "all", and a one-part prefill against a prefill in two parts.
   */
  sameBackend: number;
  /** Logits of a full-rank converted model against its base model, both on the backend under test. */
  losslessConversion: number;
}

/**
 * Default tolerances. The reference CPU backend matches the fp64 reference logits of stories260K and
 * tinystories-656k within 1e-4, so two backends that both do differ by at most 2e-4. Queries, keys and attention inputs pass
 * through fewer float32 operations than the logits, so 1e-4 bounds them. 1e-5 allows a few float32
 * rounding steps on logits up to about 25 in magnitude. A full-rank conversion is exact in real numbers,
 * so its float32 error stays far below 1e-4 (the reference CPU backend measures below 4e-6).
 */
export const defaultConformanceTolerances: Readonly<ConformanceTolerances> = Object.freeze({
  logits: 2e-4,
  capture: 1e-4,
  sameBackend: 1e-5,
  losslessConversion: 1e-4,
});

/** Returns the defaults overridden by `overrides`. Throws InvalidArgumentError for an unknown name or a negative or non-finite value. */
export function resolveTolerances(overrides: Partial<ConformanceTolerances> = {}): ConformanceTolerances {
  const resolved: ConformanceTolerances = { ...defaultConformanceTolerances };
  for (const key of Object.keys(defaultConformanceTolerances) as Array<keyof ConformanceTolerances>) {
    const value = overrides[key];
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new InvalidArgumentError(`tolerance ${key} must be a finite number >= 0, got ${String(value)}`, {
        field: `tolerances.${key}`,
      });
    }
    resolved[key] = value;
  }

  const unknown = Object.keys(overrides).filter((key) => !(key in defaultConformanceTolerances));
  if (unknown.length > 0) {
    throw new InvalidArgumentError(
      `unknown tolerance ${unknown.join(", ")}; the tolerances are ${Object.keys(defaultConformanceTolerances).join(", ")}`,
      { field: "tolerances" },
    );
  }
  return resolved;
}
