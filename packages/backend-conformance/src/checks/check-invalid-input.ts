// Bad input: calls a session must reject with a typed error from @elitekv/core, after which the
// session keeps its position and still computes the reference's logits.
import {
  ContextOverflowError,
  InvalidArgumentError,
  type Backend,
  type ElitekvErrorCode,
  type InferenceSession,
} from "@elitekv/core";

import { compareWithin, rowOf } from "../array-difference.js";
import { ConformanceMismatchError } from "../conformance-mismatch-error.js";
import { resolveTolerances } from "../conformance-tolerances.js";
import type { ReferenceResults } from "../reference-results.js";
import { withSession } from "../with-session.js";
import type { CheckOptions, ParityReport } from "./check-options.js";

export interface InvalidInputReport extends ParityReport {
  /** Calls that were rejected as required. */
  rejectedCalls: number;
}

type ErrorClass = typeof InvalidArgumentError | typeof ContextOverflowError;

const expectedCodes = new Map<ErrorClass, ElitekvErrorCode>([
  [InvalidArgumentError, "invalid-argument"],
  [ContextOverflowError, "context-overflow"],
]);

/**
 * Sends bad calls to one session and checks that each rejects with the right error class and code.
 * An empty prefill and the ids vocabSize, -1 and 1.5 in a prefill or a decode must raise
 * InvalidArgumentError. A prefill past maxContext on an empty or a partly filled cache, and a decode or
 * prefill on a full cache, must raise ContextOverflowError with `requested` and `capacity` set.
 * A rejected call must leave the position unchanged, and the valid calls between them must match the
 * reference within tolerances.logits. Throws ConformanceMismatchError naming the call.
 */
export async function checkInvalidInput(backend: Backend, reference: ReferenceResults, options: CheckOptions = {}): Promise<InvalidInputReport> {
  const tolerances = resolveTolerances(options.tolerances);
  const { ids, label, maxContext, model, decodeIds, decodeLogits } = reference;
  const vocabSize = model.config.vocabSize;
  const lastPromptRow = rowOf(reference.prefill.data, ids.length - 1, vocabSize);
  const fail = (message: string, location: string, cause?: unknown) =>
    new ConformanceMismatchError(message, { check: "invalid-input", label, location }, { cause });
  const fill = (count: number) => Array.from({ length: count }, (_, index) => ids[index % ids.length]);

  let rejectedCalls = 0;
  let maxDifference = 0;
  const compare = (actual: Float32Array, expected: Float32Array, description: string) => {
    const difference = compareWithin(actual, expected, { check: "invalid-input", label, description, tolerance: tolerances.logits });
    maxDifference = Math.max(maxDifference, difference);
  };

  const expectRejection = async (session: InferenceSession, call: string, run: () => Promise<unknown>, errorClass: ErrorClass) => {
    const position = session.position;
    let error: unknown;
    try {
      await run();
    } catch (caught) {
      error = caught;
    }
    if (error === undefined) throw fail(`${call} was accepted, expected a rejection with ${errorClass.name}`, call);

    const code = expectedCodes.get(errorClass);
    if (!(error instanceof errorClass) || error.code !== code) {
      const got = error instanceof Error ? `${error.name} (code ${String((error as { code?: unknown }).code)}): ${error.message}` : String(error);
      throw fail(`${call} rejected with ${got}, expected ${errorClass.name} with code ${code}`, call, error);
    }
    if (session.position !== position || session.cache.length !== position) {
      throw fail(
        `${call} was rejected but moved session.position from ${position} to ${session.position} (cache.length ${session.cache.length})`,
        call,
      );
    }
    rejectedCalls++;
    return error;
  };

  const expectOverflow = async (session: InferenceSession, call: string, run: () => Promise<unknown>, requested: number) => {
    const error = (await expectRejection(session, call, run, ContextOverflowError)) as ContextOverflowError;
    if (error.requested !== requested || error.capacity !== maxContext) {
      throw fail(
        `${call} rejected with requested ${error.requested} and capacity ${error.capacity}, expected ${requested} and ${maxContext}`,
        call,
        error,
      );
    }
  };

  await withSession(backend, model, maxContext, async (session) => {
    await expectRejection(session, "prefill([]) on an empty cache", () => session.prefill([]), InvalidArgumentError);
    for (const bad of [vocabSize, -1, 1.5]) {
      await expectRejection(session, `prefill with id ${bad}`, () => session.prefill([ids[0], bad]), InvalidArgumentError);
    }
    await expectOverflow(session, `prefill of ${maxContext + 1} ids`, () => session.prefill(fill(maxContext + 1)), maxContext + 1);

    const prefill = await session.prefill(ids);
    compare(prefill.data, lastPromptRow, "logits of the first valid prefill after rejected calls");

    await expectRejection(session, `decode(${vocabSize}) after the prompt`, () => session.decode(vocabSize), InvalidArgumentError);
    await expectRejection(session, "decode(-1) after the prompt", () => session.decode(-1), InvalidArgumentError);
    await expectRejection(session, "prefill([]) after the prompt", () => session.prefill([]), InvalidArgumentError);
    const overflowing = maxContext - ids.length + 1;
    await expectOverflow(session, `prefill of ${overflowing} ids after the prompt`, () => session.prefill(fill(overflowing)), maxContext + 1);

    const decoded = await session.decode(decodeIds[0]);
    compare(decoded.data, decodeLogits[0], "logits of the first valid decode after rejected calls");

    session.reset();
    await session.prefill(fill(maxContext));
    await expectOverflow(session, "decode on a full cache", () => session.decode(decodeIds[0]), maxContext + 1);
    await expectOverflow(session, "prefill of 1 id on a full cache", () => session.prefill([ids[0]]), maxContext + 1);

    session.reset();
    const afterReset = await session.prefill(ids);
    compare(afterReset.data, lastPromptRow, "logits of a prefill after reset() of a full cache");
  });

  return { maxDifference, tolerance: tolerances.logits, rejectedCalls };
}
