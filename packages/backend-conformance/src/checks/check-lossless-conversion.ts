// Lossless conversion: with every chunk rotated and the latent at full rank, an EliteKV model computes
// the same function as its base model, so the backend's EliteKV attention must reproduce its own base
// logits.
import { InvalidArgumentError, type Backend } from "@elitekv/core";

import { compareWithin } from "../array-difference.js";
import { resolveTolerances } from "../conformance-tolerances.js";
import type { ReferenceResults } from "../reference-results.js";
import { withSession } from "../with-session.js";
import type { CheckOptions, ParityReport } from "./check-options.js";
import { expectLogitsShape } from "./logits-shape.js";

/**
 * Prefills the prompt with logits "all" on the base model and on its full-rank conversion, both on
 * `backend`, and compares them within tolerances.losslessConversion. Throws InvalidArgumentError when
 * `base` is not a base model, `converted` is not an EliteKV model or their prompts differ, and
 * ConformanceMismatchError on a difference. The caller makes sure `converted` is lossless.
 */
export async function checkLosslessConversion(
  backend: Backend,
  base: ReferenceResults,
  converted: ReferenceResults,
  options: CheckOptions = {},
): Promise<ParityReport> {
  const tolerances = resolveTolerances(options.tolerances);
  if (base.model.elite !== undefined || converted.model.elite === undefined) {
    throw new InvalidArgumentError("checkLosslessConversion needs a base model and an EliteKV conversion of it", { field: "converted" });
  }
  const sameIds = base.ids.length === converted.ids.length && base.ids.every((id, index) => id === converted.ids[index]);
  if (!sameIds) throw new InvalidArgumentError("the base and converted results must use the same prompt", { field: "ids" });

  const { ids, maxContext } = base;
  const vocabSize = base.model.config.vocabSize;
  const label = converted.label;

  const baseLogits = await withSession(backend, base.model, maxContext, (session) => session.prefill(ids, { logits: "all" }));
  expectLogitsShape(baseLogits, ids.length, vocabSize, "base model logits", "lossless-conversion", label);
  const convertedLogits = await withSession(backend, converted.model, maxContext, (session) => session.prefill(ids, { logits: "all" }));
  expectLogitsShape(convertedLogits, ids.length, vocabSize, "converted model logits", "lossless-conversion", label);

  const maxDifference = compareWithin(convertedLogits.data, baseLogits.data, {
    check: "lossless-conversion",
    label,
    description: "logits of the full-rank conversion against the base model on the same backend",
    tolerance: tolerances.losslessConversion,
    rowWidth: vocabSize,
  });
  return { maxDifference, tolerance: tolerances.losslessConversion };
}
