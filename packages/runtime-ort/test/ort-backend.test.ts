import { convertModel } from "@elitekv/converter";
import { ContextOverflowError, InvalidArgumentError, type Backend, type CaptureEvent, type LoadedModel } from "@elitekv/core";
import { loadModel, loadTextSource } from "@elitekv/models";
import { createCpuBackend } from "@elitekv/runtime-cpu";
import { maxAbsDifference, tolerances } from "@elitekv/vitest-config/matchers";
import { hasShared, sharedPath, sharedSkipReason } from "@elitekv/vitest-config/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createOrtBackend } from "../src/index.js";

// f16 weights round every weight to 11 significant bits, so logits move by far more than float32 noise.
const f16LogitTolerance = 2e-2;

function ids(count: number, vocabSize: number, seed: number): number[] {
  return Array.from({ length: count }, (_, i) => (i * 7919 + seed * 104729 + 1) % vocabSize);
}

async function convert(model: LoadedModel, ratio: number, latentAllocation: "uniform" | "spectrum" = "uniform"): Promise<LoadedModel> {
  const chunks = model.config.headDim / 2;
  const ranking = {
    layers: Array.from({ length: model.config.numLayers }, () => ({
      kvHeads: Array.from({ length: model.config.numKvHeads }, () => ({ ranking: Array.from({ length: chunks }, (_, j) => j) })),
    })),
  };
  const converted = await convertModel(model, ranking, { ratio }, { svd: "weight", latentAllocation });
  return { ...model, weights: converted.weights, elite: converted.elite };
}

describe.skipIf(!hasShared)(`ORT backend on stories260K ${hasShared ? "" : sharedSkipReason}`, () => {
  let base: LoadedModel;
  let elite: LoadedModel;
  /** Latent widths that differ per layer. */
  let perLayer: LoadedModel;
  let cpu: Backend;
  let ort: Backend;

  beforeAll(async () => {
    base = await loadModel(sharedPath("models", "stories260K", "stories260K.bin"));
    elite = await convert(base, 0.5);
    perLayer = await convert(base, 0.25, "spectrum");
    cpu = createCpuBackend({ threads: 1 });
    // Chunks of 16 tokens, so that a prefill of 40 runs the graph three times over a growing cache.
    ort = createOrtBackend({ threads: 1, chunkTokens: 16 });
  });

  afterAll(async () => {
    await cpu.dispose();
    await ort.dispose();
  });

  for (const kind of ["base", "elite", "per-layer latent"] as const) {
    it(`matches the CPU backend (${kind})`, async () => {
      const model = { base, elite, "per-layer latent": perLayer }[kind];
      if (kind === "per-layer latent") expect(new Set(model.elite!.layers.map((layer) => layer.latentDim)).size).toBeGreaterThan(1);
      const reference = await cpu.createSession(model, { maxContext: 64 });
      const session = await ort.createSession(model, { maxContext: 64 });
      const prompt = ids(40, model.config.vocabSize, 1);

      const expected = await reference.prefill(prompt, { logits: "all" });
      const actual = await session.prefill(prompt, { logits: "all" });

      expect(actual.rows).toBe(40);
      expect(maxAbsDifference(actual.data, expected.data)).toBeLessThan(tolerances.crossBackendLogits);
      for (let step = 0; step < 8; step++) {
        const next = (step * 31 + 3) % model.config.vocabSize;
        const expectedStep = await reference.decode(next);
        const actualStep = await session.decode(next);
        expect(maxAbsDifference(actualStep.data, expectedStep.data), `step ${step}`).toBeLessThan(tolerances.crossBackendLogits);
      }
      expect(session.position).toBe(48);
      expect(session.cache.layout).toEqual(reference.cache.layout);
      expect(session.cache.bytesPerToken).toBe(reference.cache.bytesPerToken);
      expect(session.cache.bytesAllocated).toBe(64 * reference.cache.bytesPerToken);
      expect(session.cache.bytesUsed).toBe(48 * reference.cache.bytesPerToken);
      await reference.dispose();
      await session.dispose();
    });
  }

  it("continues from the cache", async () => {
    const session = await ort.createSession(elite, { maxContext: 64 });
    const prompt = ids(30, elite.config.vocabSize, 2);

    const whole = await session.prefill(prompt);
    session.reset();
    await session.prefill(prompt.slice(0, 11));
    const parts = await session.prefill(prompt.slice(11));

    expect(maxAbsDifference(parts.data, whole.data)).toBeLessThan(tolerances.float32Parity);
    await session.dispose();
  });

  it("captures like the CPU backend", async () => {
    for (const model of [base, elite]) {
      const reference = await cpu.createSession(model, { maxContext: 64 });
      const session = await ort.createSession(model, { maxContext: 64 });
      const prompt = ids(20, model.config.vocabSize, 3);
      const expected: CaptureEvent[] = [];
      const actual: CaptureEvent[] = [];
      const layers = [0, model.config.numLayers - 1];

      await reference.prefill(prompt, { capture: { layers, attentionInput: true, onCapture: (event) => expected.push(event) } });
      await session.prefill(prompt, { capture: { layers, attentionInput: true, onCapture: (event) => actual.push(event) } });

      // Chunks of 16 deliver each layer in two runs: positions 0..15 and 16..19.
      expect(actual.map((event) => [event.layer, event.startPosition, event.tokens])).toEqual([
        [0, 0, 16],
        [4, 0, 16],
        [0, 16, 4],
        [4, 16, 4],
      ]);
      for (const event of actual) {
        const whole = expected.find((candidate) => candidate.layer === event.layer)!;
        const { numHeads, numKvHeads, headDim, hiddenSize } = model.config;
        const slice = (data: Float32Array, width: number) => data.subarray(event.startPosition * width, (event.startPosition + event.tokens) * width);
        expect(maxAbsDifference(event.query, slice(whole.query, numHeads * headDim))).toBeLessThan(tolerances.float32Parity);
        expect(maxAbsDifference(event.key, slice(whole.key, numKvHeads * headDim))).toBeLessThan(tolerances.float32Parity);
        expect(maxAbsDifference(event.attentionInput!, slice(whole.attentionInput!, hiddenSize))).toBeLessThan(tolerances.float32Parity);
      }
      await reference.dispose();
      await session.dispose();
    }
  });

  it("runs f16 weights", async () => {
    const f16 = createOrtBackend({ threads: 1, weightDtype: "f16" });
    const reference = await ort.createSession(base, { maxContext: 32 });
    const session = await f16.createSession(base, { maxContext: 32 });
    const prompt = ids(12, base.config.vocabSize, 4);

    const expected = await reference.prefill(prompt, { logits: "all" });
    const actual = await session.prefill(prompt, { logits: "all" });

    const difference = maxAbsDifference(actual.data, expected.data);
    expect(difference).toBeGreaterThan(0);
    expect(difference).toBeLessThan(f16LogitTolerance);
    await reference.dispose();
    await f16.dispose();
  });

  it("keeps quality with quantized weights", async () => {
    // Mean next-token NLL over one window of real text, per weight storage.
    const text = await loadTextSource(sharedPath("data", "tinystories-valid-prefix", "tinystories_val.txt"), { maxChars: 400 });
    const prompt = base.tokenizer.encode(text.text, { addBos: true }).slice(0, 64);
    const meanNll = async (weightDtype: "f32" | "q8" | "q4") => {
      const backend = createOrtBackend({ threads: 1, weightDtype });
      const session = await backend.createSession(base, { maxContext: 64 });
      const logits = await session.prefill(prompt, { logits: "all" });
      await backend.dispose();
      let sum = 0;
      for (let row = 0; row < prompt.length - 1; row++) {
        const values = logits.data.subarray(row * logits.vocabSize, (row + 1) * logits.vocabSize);
        let max = -Infinity;
        for (const value of values) max = Math.max(max, value);
        let total = 0;
        for (const value of values) total += Math.exp(value - max);
        sum += Math.log(total) + max - values[prompt[row + 1]];
      }
      return sum / (prompt.length - 1);
    };

    const f32 = await meanNll("f32");
    const q8 = await meanNll("q8");
    const q4 = await meanNll("q4");

    expect(Math.abs(q8 - f32)).toBeLessThan(0.01);
    expect(Math.abs(q4 - f32)).toBeGreaterThan(Math.abs(q8 - f32));
    expect(Math.abs(q4 - f32)).toBeLessThan(0.3);
  });

  it("rejects bad input and stays usable", async () => {
    const session = await ort.createSession(base, { maxContext: 8 });
    const prompt = ids(6, base.config.vocabSize, 5);

    await expect(session.prefill(ids(9, base.config.vocabSize, 5))).rejects.toBeInstanceOf(ContextOverflowError);
    await expect(session.prefill([])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(session.prefill([base.config.vocabSize])).rejects.toThrow(/token id 512 at index 0 is not an integer in \[0, 512\)/);
    const first = await session.prefill(prompt);
    await session.decode(1);
    await session.decode(2);
    await expect(session.decode(3)).rejects.toBeInstanceOf(ContextOverflowError);
    expect(session.position).toBe(8);

    session.reset();
    const again = await session.prefill(prompt);
    expect(Array.from(again.data)).toEqual(Array.from(first.data));
    await session.dispose();
  });

  it("rejects bad options", () => {
    expect(() => createOrtBackend({ threads: 0 })).toThrow(/threads must be a positive integer, got 0/);
    expect(() => createOrtBackend({ weightDtype: "q3" as never })).toThrow(/weightDtype must be one of f32, f16, q8, q4, got q3/);
  });
});
