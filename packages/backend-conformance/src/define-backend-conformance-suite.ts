// Registers the conformance suite with vitest: per shared model and variant, one test per check, each
// comparing the backend under test with the reference backend.
import { join } from "node:path";

import { FileNotFoundError, type Backend } from "@elitekv/core";
import { afterAll, beforeAll, describe, expect, it, type TestContext } from "vitest";

import { checkCacheAccounting } from "./checks/check-cache-accounting.js";
import { checkCaptureParity } from "./checks/check-capture-parity.js";
import { checkContinuation } from "./checks/check-continuation.js";
import { checkDecodeParity } from "./checks/check-decode-parity.js";
import { checkInvalidInput } from "./checks/check-invalid-input.js";
import { checkLosslessConversion } from "./checks/check-lossless-conversion.js";
import { checkPrefillParity } from "./checks/check-prefill-parity.js";
import { ConformanceCases, type VariantCase } from "./conformance-cases.js";
import { resolveConformanceOptions, type BackendConformanceOptions, type ResolvedConformanceOptions } from "./conformance-options.js";
import { conformanceVariants, type ConformanceVariant } from "./conformance-variants.js";
import type { ReferenceResults } from "./reference-results.js";
import { missingModelReason, sharedModelsRequired, type ConformanceModel } from "./shared-models.js";

/**
 * Registers `describe` and `it` blocks that run every conformance check of the backend from
 * `options.createBackend` against the reference backend, for each selected shared model and variant.
 * Call it at the top level of a vitest test file. Throws InvalidArgumentError for invalid options.
 *
 * A model whose files are missing is skipped with the reason in its title, unless ELITEKV_REQUIRE_SHARED=1,
 * which turns it into a failing test. A variant whose cache target the model cannot reach (ratio 0.25 of
 * llama-2-tiny-random-gguf) skips its tests with the converter's message.
 */
export function defineBackendConformanceSuite(options: BackendConformanceOptions): void {
  const resolved = resolveConformanceOptions(options);
  let backend: Backend | undefined;
  let reference: Backend | undefined;
  const backendUnderTest = () => requireBackend(backend, "backend under test");
  const referenceBackend = () => requireBackend(reference, "reference backend");

  describe(`${resolved.name} backend conformance`, () => {
    beforeAll(async () => {
      backend = await resolved.createBackend();
      reference = await resolved.createReference();
    }, resolved.timeoutMs);

    afterAll(async () => {
      try {
        await backend?.dispose();
      } finally {
        await reference?.dispose();
      }
    }, resolved.timeoutMs);

    for (const model of resolved.models) defineModelSuite(model, resolved, backendUnderTest, referenceBackend);
  });
}

function requireBackend(backend: Backend | undefined, role: string): Backend {
  if (backend === undefined) throw new Error(`the ${role} was not created; see the failure of the suite's beforeAll`);
  return backend;
}

function defineModelSuite(model: ConformanceModel, options: ResolvedConformanceOptions, backend: () => Backend, reference: () => Backend): void {
  const title = `${model.name} (${model.description})`;
  const missing = missingModelReason(options.sharedDir, model);
  if (missing !== undefined && sharedModelsRequired()) {
    describe(title, () => {
      it("model files present", () => {
        throw new FileNotFoundError(join(options.sharedDir, model.path), `${missing}; ELITEKV_REQUIRE_SHARED=1 makes this a failure`);
      });
    });
    return;
  }

  const suite = missing === undefined ? describe : describe.skip;
  suite(missing === undefined ? title : `${title}: skipped, ${missing}`, () => {
    const cases = new ConformanceCases(model, options.sharedDir, options.settings, reference);
    for (const variant of options.variants) defineVariantSuite(variant, cases, options, backend);
  });
}

function defineVariantSuite(variant: ConformanceVariant, cases: ConformanceCases, options: ResolvedConformanceOptions, backend: () => Backend): void {
  const { tolerances, settings, timeoutMs } = options;
  const checkOptions = { tolerances };

  describe(variant.name, () => {
    let current: VariantCase | undefined;
    beforeAll(async () => {
      current = await cases.variantCase(variant);
    }, timeoutMs);

    /** Returns the reference results, or skips the test with the reason the variant cannot be built. */
    const referenceFor = (context: TestContext): ReferenceResults => {
      if (current === undefined) throw new Error(`${variant.name}: the reference results are missing; see the failure of beforeAll`);
      if (current.skipReason !== undefined) context.skip(current.skipReason);
      return current.reference!;
    };

    it("prefill logits", async (context) => {
      const report = await checkPrefillParity(backend(), referenceFor(context), checkOptions);
      expect(report.maxDifference).toBeLessThanOrEqual(tolerances.logits);
      expect(report.lastRowDifference).toBeLessThanOrEqual(tolerances.sameBackend);
    }, timeoutMs);

    it("decode in lockstep", async (context) => {
      const report = await checkDecodeParity(backend(), referenceFor(context), checkOptions);
      expect(report.steps).toBe(settings.decodeSteps);
      expect(report.greedyIds).toHaveLength(settings.decodeSteps + 1);
      expect(report.maxDifference).toBeLessThanOrEqual(tolerances.logits);
    }, timeoutMs);

    it("cache accounting", async (context) => {
      const results = referenceFor(context);
      const report = await checkCacheAccounting(backend(), results, checkOptions);
      expect(report.layout).toEqual(results.layout);
      expect(report.bytesAllocated).toBeGreaterThanOrEqual(settings.maxContext * report.bytesPerToken);
      // New session, the prefill, each decode, the reset and the prefill after it.
      expect(report.statesChecked).toBe(settings.decodeSteps + 4);
      expect(report.resetDifference).toBeLessThanOrEqual(tolerances.logits);
    }, timeoutMs);

    it("capture of first and last layer", async (context) => {
      const report = await checkCaptureParity(backend(), referenceFor(context), checkOptions);
      expect(report.maxDifference).toBeLessThanOrEqual(tolerances.capture);
    }, timeoutMs);

    it("invalid input", async (context) => {
      const report = await checkInvalidInput(backend(), referenceFor(context), checkOptions);
      // Four bad prefills, one overflow on an empty cache, three bad calls and one overflow after the prompt,
      // and two calls on a full cache.
      expect(report.rejectedCalls).toBe(11);
      expect(report.maxDifference).toBeLessThanOrEqual(tolerances.logits);
    }, timeoutMs);

    it("continuation in two prefills", async (context) => {
      const report = await checkContinuation(backend(), referenceFor(context), { ...checkOptions, split: settings.continuationSplit });
      expect(report.maxDifference).toBeLessThanOrEqual(tolerances.logits);
      expect(report.singlePrefillDifference).toBeLessThanOrEqual(tolerances.sameBackend);
    }, timeoutMs);

    if (variant.name === "full-rank") {
      it("full rank equals base model", async (context) => {
        const converted = referenceFor(context);
        const base = await cases.variantCase(baseVariant);
        const report = await checkLosslessConversion(backend(), base.reference!, converted, checkOptions);
        expect(report.maxDifference).toBeLessThanOrEqual(tolerances.losslessConversion);
      }, timeoutMs);
    }
  });
}

const baseVariant = conformanceVariants.find((variant) => variant.name === "base")!;
