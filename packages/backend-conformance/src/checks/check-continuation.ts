// Continuation: a prompt prefilled in two parts must give the logits of one prefill, which fails when a
// backend gets the position offset of a prefill on a non-empty cache wrong.
import { InvalidArgumentError, type Backend } from "@elitekv/core";

import { compareWithin, rowOf } from "../array-difference.js";
import { ConformanceMismatchError } from "../conformance-mismatch-error.js";
import { defaultConformanceSettings } from "../conformance-settings.js";
import { resolveTolerances } from "../conformance-tolerances.js";
import type { ReferenceResults } from "../reference-results.js";
import { withSession } from "../with-session.js";
import type { CheckOptions, ParityReport } from "./check-options.js";
import { expectLogitsShape } from "./logits-shape.js";

export interface ContinuationOptions extends CheckOptions {
  /** Lengths of the two prefills. Defaults to defaultConformanceSettings.continuationSplit. */
  split?: readonly [number, number];
}

export interface ContinuationReport extends ParityReport {
  /** Largest difference of the second part's last row against the backend's own single prefill. */
  singlePrefillDifference: number;
  singlePrefillTolerance: number;
}

/**
 * Prefills the first `split[0]` prompt ids, then the next `split[1]` with logits "all", and compares
 * every row with the reference within tolerances.logits. Then compares the last row with a single
 * prefill of `split[0] + split[1]` ids on a new session, within tolerances.sameBackend. Throws
 * InvalidArgumentError when the prompt is shorter than the split, and ConformanceMismatchError on a
 * difference or a wrong session.position.
 */
export async function checkContinuation(backend: Backend, reference: ReferenceResults, options: ContinuationOptions = {}): Promise<ContinuationReport> {
  const tolerances = resolveTolerances(options.tolerances);
  const [first, second] = options.split ?? defaultConformanceSettings.continuationSplit;
  const { ids, label, maxContext, model } = reference;
  const vocabSize = model.config.vocabSize;
  const total = first + second;
  if (!(Number.isSafeInteger(first) && Number.isSafeInteger(second) && first >= 1 && second >= 1 && total <= ids.length)) {
    throw new InvalidArgumentError(`${label}: split [${first}, ${second}] needs two positive lengths summing to at most the prompt's ${ids.length} ids`, {
      field: "split",
    });
  }
  const compare = (actual: Float32Array, expected: Float32Array, description: string, tolerance: number, rowWidth?: number) =>
    compareWithin(actual, expected, { check: "continuation", label, description, tolerance, rowWidth });

  const parts = await withSession(backend, model, maxContext, async (session) => {
    const head = await session.prefill(ids.slice(0, first));
    expectLogitsShape(head, 1, vocabSize, "logits of the first part", "continuation", label);
    const afterHead = session.position;
    const tail = await session.prefill(ids.slice(first, total), { logits: "all" });
    expectLogitsShape(tail, second, vocabSize, 'logits "all" of the second part', "continuation", label);
    if (afterHead !== first || session.position !== total) {
      throw new ConformanceMismatchError(
        `session.position is ${afterHead} after the first part and ${session.position} after the second, expected ${first} and ${total}`,
        { check: "continuation", label },
      );
    }
    return { head: Float32Array.from(head.data), tail: Float32Array.from(tail.data) };
  });

  let maxDifference = compare(parts.head, rowOf(reference.prefill.data, first - 1, vocabSize), "logits of the first part", tolerances.logits);
  const expectedTail = reference.prefill.data.subarray(first * vocabSize, total * vocabSize);
  maxDifference = Math.max(
    maxDifference,
    compare(parts.tail, expectedTail, `logits "all" of the second part (rows are positions ${first}..${total - 1})`, tolerances.logits, vocabSize),
  );

  const single = await withSession(backend, model, maxContext, (session) => session.prefill(ids.slice(0, total)));
  expectLogitsShape(single, 1, vocabSize, "logits of the single prefill", "continuation", label);
  const singlePrefillDifference = compare(
    rowOf(parts.tail, second - 1, vocabSize),
    single.data,
    `last logits of the two-part prefill against a single prefill of ${total} ids`,
    tolerances.sameBackend,
  );

  return { maxDifference, tolerance: tolerances.logits, singlePrefillDifference, singlePrefillTolerance: tolerances.sameBackend };
}
