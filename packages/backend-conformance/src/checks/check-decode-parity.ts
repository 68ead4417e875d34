// Decode parity: the backend and the reference decode in lockstep, both fed the reference's greedy ids,
// and every step's logits and greedy id must agree.
import { argmax, type Backend } from "@elitekv/core";

import { compareWithin, rowOf } from "../array-difference.js";
import { ConformanceMismatchError } from "../conformance-mismatch-error.js";
import { resolveTolerances } from "../conformance-tolerances.js";
import type { ReferenceResults } from "../reference-results.js";
import { withSession } from "../with-session.js";
import type { CheckOptions, ParityReport } from "./check-options.js";
import { expectLogitsShape } from "./logits-shape.js";

export interface DecodeParityReport extends ParityReport {
  /** Decode steps compared. */
  steps: number;
  /** The backend's greedy id after the prefill and after each step. */
  greedyIds: number[];
  /**
   * Steps where the backend picked another id than the reference, accepted because the reference's
   * logits of both ids lie within tolerances.logits of each other.
   */
  nearTies: number;
}

/**
 * Prefills the prompt, then decodes the reference's greedy ids one by one. Throws ConformanceMismatchError
 * when a step's logits differ from the reference by more than tolerances.logits. It also throws when the
 * backend's greedy id differs from the reference's and the reference scores the backend's id more than
 * tolerances.logits below its maximum, because that is a real disagreement and not a near tie.
 */
export async function checkDecodeParity(backend: Backend, reference: ReferenceResults, options: CheckOptions = {}): Promise<DecodeParityReport> {
  const tolerances = resolveTolerances(options.tolerances);
  const { ids, label, maxContext, model, decodeIds, decodeLogits } = reference;
  const vocabSize = model.config.vocabSize;
  const greedyIds: number[] = [];
  let maxDifference = 0;
  let nearTies = 0;

  const compareStep = (actual: Float32Array, expected: Float32Array, step: string) => {
    const difference = compareWithin(actual, expected, { check: "decode", label, description: `${step} logits`, tolerance: tolerances.logits });
    maxDifference = Math.max(maxDifference, difference);

    const chosen = argmax(actual);
    const expectedId = argmax(expected);
    greedyIds.push(chosen);
    if (chosen === expectedId) return;
    const gap = expected[expectedId] - expected[chosen];
    if (gap > tolerances.logits) {
      throw new ConformanceMismatchError(
        `${step}: greedy id ${chosen} differs from the reference's ${expectedId}, whose logit is ${gap} higher`,
        { check: "decode", label, location: step, maxDifference: difference, tolerance: tolerances.logits },
      );
    }
    nearTies++;
  };

  await withSession(backend, model, maxContext, async (session) => {
    const prefill = await session.prefill(ids);
    expectLogitsShape(prefill, 1, vocabSize, "prefill logits", "decode", label);
    compareStep(prefill.data, rowOf(reference.prefill.data, ids.length - 1, vocabSize), "prefill");

    for (let step = 0; step < decodeIds.length; step++) {
      const logits = await session.decode(decodeIds[step]);
      expectLogitsShape(logits, 1, vocabSize, `decode step ${step} logits`, "decode", label);
      compareStep(logits.data, decodeLogits[step], `decode step ${step} (position ${ids.length + step})`);
    }
  });

  return { maxDifference, tolerance: tolerances.logits, steps: decodeIds.length, greedyIds, nearTies };
}
