// Prefill parity: the logits of every prompt position against the reference, and "last" logits against
// the last row of "all".
import type { Backend } from "@elitekv/core";

import { compareWithin, rowOf } from "../array-difference.js";
import { resolveTolerances } from "../conformance-tolerances.js";
import type { ReferenceResults } from "../reference-results.js";
import { withSession } from "../with-session.js";
import type { CheckOptions, ParityReport } from "./check-options.js";
import { expectLogitsShape } from "./logits-shape.js";

export interface PrefillParityReport extends ParityReport {
  /** Largest difference between the "last" logits and the last row of the backend's own "all" logits. */
  lastRowDifference: number;
  lastRowTolerance: number;
}

/**
 * Prefills the prompt with logits "all" and then, on a new session, with logits "last". Throws
 * ConformanceMismatchError when a shape differs, a row differs from the reference by more than
 * tolerances.logits, or the "last" row differs from the last "all" row by more than tolerances.sameBackend.
 */
export async function checkPrefillParity(backend: Backend, reference: ReferenceResults, options: CheckOptions = {}): Promise<PrefillParityReport> {
  const tolerances = resolveTolerances(options.tolerances);
  const { ids, label, maxContext, model } = reference;
  const vocabSize = model.config.vocabSize;

  const all = await withSession(backend, model, maxContext, (session) => session.prefill(ids, { logits: "all" }));
  expectLogitsShape(all, ids.length, vocabSize, 'prefill logits "all"', "prefill", label);
  const maxDifference = compareWithin(all.data, reference.prefill.data, {
    check: "prefill",
    label,
    description: 'prefill logits "all"',
    tolerance: tolerances.logits,
    rowWidth: vocabSize,
  });

  const last = await withSession(backend, model, maxContext, (session) => session.prefill(ids, { logits: "last" }));
  expectLogitsShape(last, 1, vocabSize, 'prefill logits "last"', "prefill", label);
  const lastRowDifference = compareWithin(last.data, rowOf(all.data, ids.length - 1, vocabSize), {
    check: "prefill",
    label,
    description: 'prefill logits "last" against the last row of "all"',
    tolerance: tolerances.sameBackend,
  });

  return { maxDifference, tolerance: tolerances.logits, lastRowDifference, lastRowTolerance: tolerances.sameBackend };
}
