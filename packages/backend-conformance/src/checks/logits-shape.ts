// Shape check of returned logits, run before any value comparison.
import type { Logits } from "@elitekv/core";

import { ConformanceMismatchError, type ConformanceCheckName } from "../conformance-mismatch-error.js";

/** Throws ConformanceMismatchError unless `logits` has `rows` rows of `vocabSize` values. */
export function expectLogitsShape(logits: Logits, rows: number, vocabSize: number, description: string, check: ConformanceCheckName, label: string): void {
  const shapeMatches = logits.rows === rows && logits.vocabSize === vocabSize && logits.data.length === rows * vocabSize;
  if (!shapeMatches) {
    throw new ConformanceMismatchError(
      `${description} have rows ${logits.rows}, vocabSize ${logits.vocabSize} and ${logits.data.length} values; expected ${rows} rows of ${vocabSize}`,
      { check, label },
    );
  }
}
