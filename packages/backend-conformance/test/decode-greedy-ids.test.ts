// The greedy-id rule of checkDecodeParity on scripted logits: a different argmax passes only when the
// reference's logits of both ids lie within the logit tolerance of each other.
import { type Backend, type InferenceSession, type KvCacheLayout, type Logits } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { checkDecodeParity, ConformanceMismatchError, defaultConformanceTolerances, type ReferenceResults } from "../src/index.js";
import { tinyModel } from "./support/tiny-model.js";

const vocabSize = 4;
const model = { ...tinyModel(), config: { ...tinyModel().config, vocabSize } };
const layout: KvCacheLayout = { kind: "full", layers: 2, kvHeads: 2, headDim: 8, dtype: "f32" };
const tolerance = defaultConformanceTolerances.logits;

/** Returns a backend whose sessions return `prefill` and then each of `decodes` in turn. */
function scriptedBackend(prefill: number[], decodes: number[][]): Backend {
  const logits = (values: number[]): Logits => ({ rows: 1, vocabSize, data: Float32Array.from(values) });
  return {
    name: "scripted",
    createSession: async () => {
      let step = 0;
      const session = {
        config: model.config,
        position: 0,
        prefill: async () => logits(prefill),
        decode: async () => logits(decodes[step++]),
        reset: () => {},
        dispose: async () => {},
      };
      return session as unknown as InferenceSession;
    },
    dispose: async () => {},
  };
}

/** Returns reference results of a one-id prompt and one decode step with the given logits. */
function scriptedReference(prefill: number[], decode: number[]): ReferenceResults {
  return {
    label: "scripted",
    model,
    ids: [1],
    maxContext: 8,
    prefill: { rows: 1, vocabSize, data: Float32Array.from(prefill) },
    decodeIds: [prefill.indexOf(Math.max(...prefill))],
    decodeLogits: [Float32Array.from(decode)],
    layout,
    captureLayers: [0, 1],
    capture: new Map(),
  };
}

describe("checkDecodeParity greedy ids", () => {
  const decode = [0, 0, 3, 0];

  it("accepts a near tie", async () => {
    // The reference prefers id 1 by 5e-5 and the backend prefers id 0 by 1e-5, all within the tolerance.
    const reference = scriptedReference([1, 1 + 5e-5, 0, 0], decode);
    const backend = scriptedBackend([1 + 4e-5, 1 + 3e-5, 0, 0], [decode]);

    const report = await checkDecodeParity(backend, reference);

    expect(report.greedyIds).toEqual([0, 2]);
    expect(report.nearTies).toBe(1);
    expect(report.maxDifference).toBeLessThanOrEqual(tolerance);
  });

  it("rejects a greedy flip beyond the tolerance", async () => {
    // Each logit is within 1.6e-4 of the reference, but the reference prefers id 1 by 3e-4.
    const reference = scriptedReference([1, 1 + 3e-4, 0, 0], decode);
    const backend = scriptedBackend([1 + 1.5e-4, 1 + 1.4e-4, 0, 0], [decode]);

    const error = await checkDecodeParity(backend, reference).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ConformanceMismatchError);
    expect((error as ConformanceMismatchError).location).toBe("prefill");
    expect((error as ConformanceMismatchError).message).toContain("greedy id 0 differs from the reference's 1");
  });

  it("rejects NaN logits", async () => {
    const reference = scriptedReference([1, 2, 0, 0], decode);
    const backend = scriptedBackend([1, 2, 0, 0], [[0, 0, Number.NaN, 0]]);

    const error = await checkDecodeParity(backend, reference).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ConformanceMismatchError);
    expect((error as ConformanceMismatchError).maxDifference).toBe(Infinity);
    expect((error as ConformanceMismatchError).message).toContain("decode step 0 (position 1) logits");
  });
});
