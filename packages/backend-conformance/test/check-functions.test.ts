// The check functions against an honest backend (the CPU backend compared with itself) and against
// wrappers that inject one known fault each: every fault must be caught by the check meant for it, with
// the measured difference in the error.
import { type Backend, type InferenceSession, type LoadedModel } from "@elitekv/core";
import { createCpuBackend } from "@elitekv/runtime-cpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  buildConformanceVariant,
  checkCacheAccounting,
  checkCaptureParity,
  checkContinuation,
  checkDecodeParity,
  checkInvalidInput,
  checkLosslessConversion,
  checkPrefillParity,
  computeReference,
  ConformanceMismatchError,
  conformanceVariants,
  defaultConformanceTolerances,
  type ReferenceResults,
} from "../src/index.js";
import {
  CaptureRewritingSession,
  ClampingIdsSession,
  HalvedBytesPerTokenSession,
  IgnoredResetSession,
  PerturbedLogitsSession,
  RestartingPrefillSession,
  ShiftedDecodeSession,
  sliceCaptureEvent,
  UntypedOverflowSession,
  wrapBackend,
} from "./support/faulty-backends.js";
import { tinyModel, tinyPromptIds } from "./support/tiny-model.js";

const maxContext = 40;
const decodeSteps = 8;
const perturbation = 1e-2;

const cpu = createCpuBackend({ threads: 1 });
let base: ReferenceResults;
let fullRank: ReferenceResults;

beforeAll(async () => {
  const model = tinyModel();
  const ids = tinyPromptIds(16);
  const variant = conformanceVariants.find((entry) => entry.name === "full-rank")!;
  const converted = await buildConformanceVariant(model, variant);
  base = await computeReference(cpu, model, ids, { label: "tiny base", maxContext, decodeSteps });
  fullRank = await computeReference(cpu, converted, ids, { label: "tiny full-rank", maxContext, decodeSteps });
});

afterAll(() => cpu.dispose());

/** Returns a backend over the shared CPU backend whose dispose() leaves the CPU backend open. */
function faulty(wrap: (session: InferenceSession, model: LoadedModel) => InferenceSession): Backend {
  const backend = wrapBackend(cpu, "faulty", wrap);
  return { ...backend, dispose: async () => {} };
}

/** Awaits `run` and returns the ConformanceMismatchError it rejects with. Fails the test when it resolves. */
async function mismatchOf(run: Promise<unknown>): Promise<ConformanceMismatchError> {
  const error = await run.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ConformanceMismatchError);
  return error as ConformanceMismatchError;
}

describe("checks on the CPU backend against itself", () => {
  const honest = () => faulty((session) => session);

  it("prefill has zero difference", async () => {
    const report = await checkPrefillParity(honest(), base);

    expect(report.maxDifference).toBe(0);
    expect(report.lastRowDifference).toBe(0);
  });

  it("decode has zero difference", async () => {
    const report = await checkDecodeParity(honest(), base);

    expect(report.maxDifference).toBe(0);
    expect(report.steps).toBe(decodeSteps);
    expect(report.greedyIds).toEqual([...base.decodeIds, report.greedyIds[decodeSteps]]);
    expect(report.nearTies).toBe(0);
  });

  it("cache accounting of an EliteKV model", async () => {
    const report = await checkCacheAccounting(honest(), fullRank);

    expect(report.layout.kind).toBe("elitekv");
    // 2 layers of 2 KV heads × 4 chunks × 2 values plus a latent of G·h = 16, in float32.
    expect(report.bytesPerToken).toBe(2 * (2 * 4 * 2 + 16) * 4);
    expect(report.statesChecked).toBe(decodeSteps + 4);
    expect(report.resetDifference).toBe(0);
  });

  it("capture has zero difference", async () => {
    const report = await checkCaptureParity(honest(), base);

    expect(report.layers).toEqual([0, 1]);
    expect(report.maxDifference).toBe(0);
  });

  it("capture in single-token runs", async () => {
    const reversedRuns = faulty(
      (session, model) =>
        new CaptureRewritingSession(session, model, (event) =>
          Array.from({ length: event.tokens }, (_, t) => sliceCaptureEvent(event, model.config, t, t + 1)).reverse(),
        ),
    );

    const report = await checkCaptureParity(reversedRuns, base);

    expect(report.maxDifference).toBe(0);
  });

  it("invalid input rejected", async () => {
    const report = await checkInvalidInput(honest(), base);

    expect(report.rejectedCalls).toBe(11);
    expect(report.maxDifference).toBe(0);
  });

  it("continuation has zero difference", async () => {
    const report = await checkContinuation(honest(), base, { split: [5, 7] });

    expect(report.maxDifference).toBe(0);
    expect(report.singlePrefillDifference).toBe(0);
  });

  it("full rank matches base", async () => {
    const report = await checkLosslessConversion(honest(), base, fullRank);

    expect(report.maxDifference).toBeLessThanOrEqual(defaultConformanceTolerances.losslessConversion);
  });
});

describe("checks catch injected faults", () => {
  const perturbed = () => faulty((session, model) => new PerturbedLogitsSession(session, model, perturbation, 3));

  it("prefill catches a perturbed logit", async () => {
    const error = await mismatchOf(checkPrefillParity(perturbed(), base));

    expect(error.check).toBe("prefill");
    expect(error.label).toBe("tiny base");
    expect(error.maxDifference).toBeCloseTo(perturbation, 5);
    expect(error.tolerance).toBe(defaultConformanceTolerances.logits);
    // Float32 rounding makes the added 1e-2 differ slightly between rows, so any row may hold the maximum.
    expect(error.location).toMatch(/^row \d+, index 3$/);
  });

  it("decode catches a perturbed logit", async () => {
    const error = await mismatchOf(checkDecodeParity(perturbed(), base));

    expect(error.check).toBe("decode");
    expect(error.maxDifference).toBeCloseTo(perturbation, 5);
  });

  it("decode catches a shifted position", async () => {
    const error = await mismatchOf(checkDecodeParity(faulty((session, model) => new ShiftedDecodeSession(session, model)), base));

    expect(error.check).toBe("decode");
    expect(error.message).toContain("decode step 0");
    expect(error.maxDifference).toBeGreaterThan(defaultConformanceTolerances.logits);
  });

  it("continuation catches a restarted prefill", async () => {
    const restarting = faulty((session, model) => new RestartingPrefillSession(session, model));

    const error = await mismatchOf(checkContinuation(restarting, base, { split: [5, 7] }));

    expect(error.check).toBe("continuation");
    expect(error.message).toContain("second part");
    expect(error.maxDifference).toBeGreaterThan(defaultConformanceTolerances.logits);
  });

  it("capture catches a perturbed key", async () => {
    const offset = 1e-3;
    const perturbedKey = faulty(
      (session, model) =>
        new CaptureRewritingSession(session, model, (event) => {
          const key = Float32Array.from(event.key);
          key[5] += offset;
          return [{ ...event, key }];
        }),
    );

    const error = await mismatchOf(checkCaptureParity(perturbedKey, base));

    expect(error.check).toBe("capture");
    expect(error.message).toContain("layer 0 captured key");
    expect(error.maxDifference).toBeCloseTo(offset, 5);
    expect(error.tolerance).toBe(defaultConformanceTolerances.capture);
  });

  it("capture catches a missing position", async () => {
    const truncated = faulty(
      (session, model) => new CaptureRewritingSession(session, model, (event) => [sliceCaptureEvent(event, model.config, 0, event.tokens - 1)]),
    );

    const error = await mismatchOf(checkCaptureParity(truncated, base));

    expect(error.check).toBe("capture");
    expect(error.message).toContain("layer 0 position 15 was never delivered");
  });

  it("capture catches a duplicate position", async () => {
    const duplicated = faulty((session, model) => new CaptureRewritingSession(session, model, (event) => [event, sliceCaptureEvent(event, model.config, 2, 3)]));

    const error = await mismatchOf(checkCaptureParity(duplicated, base));

    expect(error.message).toContain("delivers position 2 a second time");
  });

  it("cache accounting catches an ignored reset", async () => {
    const error = await mismatchOf(checkCacheAccounting(faulty((session, model) => new IgnoredResetSession(session, model)), base));

    expect(error.check).toBe("cache-accounting");
    expect(error.message).toContain(`after reset(): cache.length is ${16 + decodeSteps}, expected 0`);
  });

  it("cache accounting catches wrong bytesPerToken", async () => {
    const error = await mismatchOf(checkCacheAccounting(faulty((session, model) => new HalvedBytesPerTokenSession(session, model)), base));

    // Full cache of 2 layers × 2 KV heads × 8 dims × (key + value), in float32.
    expect(error.message).toContain("cache.bytesPerToken is 128 but cacheBytesPerToken(layout) is 256");
  });

  it("cache accounting catches a shifted decode", async () => {
    const error = await mismatchOf(checkCacheAccounting(faulty((session, model) => new ShiftedDecodeSession(session, model)), base));

    expect(error.message).toContain("after the prefill and 1 decodes: cache.length is 18, expected 17");
  });

  it("invalid input catches an untyped overflow", async () => {
    const error = await mismatchOf(checkInvalidInput(faulty((session, model) => new UntypedOverflowSession(session, model)), base));

    expect(error.check).toBe("invalid-input");
    expect(error.location).toBe(`prefill of ${maxContext + 1} ids`);
    expect(error.message).toContain("expected ContextOverflowError with code context-overflow");
  });

  it("invalid input catches clamped ids", async () => {
    const error = await mismatchOf(checkInvalidInput(faulty((session, model) => new ClampingIdsSession(session, model)), base));

    expect(error.location).toBe("prefill with id 64");
    expect(error.message).toContain("was accepted");
  });

  it("invalid input catches perturbed logits", async () => {
    const error = await mismatchOf(checkInvalidInput(perturbed(), base));

    expect(error.check).toBe("invalid-input");
    expect(error.maxDifference).toBeCloseTo(perturbation, 5);
  });

  it("lossless conversion catches EliteKV-only error", async () => {
    const eliteOnly = faulty((session, model) => new PerturbedLogitsSession(session, model, perturbation, 3, true));

    const error = await mismatchOf(checkLosslessConversion(eliteOnly, base, fullRank));

    expect(error.check).toBe("lossless-conversion");
    expect(error.maxDifference).toBeCloseTo(perturbation, 4);
    expect(error.tolerance).toBe(defaultConformanceTolerances.losslessConversion);
  });

  it("tolerance override lets a small error pass", async () => {
    const report = await checkPrefillParity(perturbed(), base, { tolerances: { logits: 2 * perturbation } });

    expect(report.maxDifference).toBeCloseTo(perturbation, 5);
    expect(report.tolerance).toBe(2 * perturbation);
  });
});
