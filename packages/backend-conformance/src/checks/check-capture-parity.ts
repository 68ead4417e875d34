// Capture parity: the queries, keys and attention inputs a prefill delivers for the first and last
// layer, assembled over all positions, against the reference's.
import type { Backend } from "@elitekv/core";

import { compareWithin, rowOf } from "../array-difference.js";
import { CaptureCollector } from "../capture-collector.js";
import { resolveTolerances } from "../conformance-tolerances.js";
import type { ReferenceResults } from "../reference-results.js";
import { withSession } from "../with-session.js";
import type { CheckOptions, ParityReport } from "./check-options.js";
import { expectLogitsShape } from "./logits-shape.js";

export interface CaptureParityReport extends ParityReport {
  layers: readonly number[];
}

/**
 * Prefills the prompt with capture of reference.captureLayers and attention inputs. Throws
 * ConformanceMismatchError when an event is malformed, a position is missing or delivered twice, a
 * captured value differs from the reference by more than tolerances.capture, or the logits of the
 * capturing prefill differ from the reference by more than tolerances.logits.
 */
export async function checkCaptureParity(backend: Backend, reference: ReferenceResults, options: CheckOptions = {}): Promise<CaptureParityReport> {
  const tolerances = resolveTolerances(options.tolerances);
  const { ids, label, maxContext, model, captureLayers } = reference;
  const { numHeads, numKvHeads, headDim, hiddenSize, vocabSize } = model.config;
  const widths = { query: numHeads * headDim, key: numKvHeads * headDim, attentionInput: hiddenSize };

  const collector = new CaptureCollector(model.config, captureLayers, 0, ids.length);
  const logits = await withSession(backend, model, maxContext, (session) => session.prefill(ids, { capture: collector.options() }));
  const captured = collector.assemble(label);

  expectLogitsShape(logits, 1, vocabSize, "logits of the capturing prefill", "capture", label);
  compareWithin(logits.data, rowOf(reference.prefill.data, ids.length - 1, vocabSize), {
    check: "capture",
    label,
    description: "logits of the capturing prefill",
    tolerance: tolerances.logits,
  });

  let maxDifference = 0;
  for (const layer of captureLayers) {
    const actual = captured.get(layer)!;
    const expected = reference.capture.get(layer)!;
    for (const field of ["query", "key", "attentionInput"] as const) {
      const difference = compareWithin(actual[field], expected[field], {
        check: "capture",
        label,
        description: `layer ${layer} captured ${field} values`,
        tolerance: tolerances.capture,
        rowWidth: widths[field],
      });
      maxDifference = Math.max(maxDifference, difference);
    }
  }
  return { maxDifference, tolerance: tolerances.capture, layers: captureLayers };
}
