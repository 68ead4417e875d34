// Layer-wise recovery end to end on tinystories-656k at a 25% cache: every layer's calibration loss and
// the held-out perplexity must drop, and the reported losses must match a direct recomputation.
import { buildRopeTable, createMatrix, type Backend, type LoadedModel, type Matrix } from "@elitekv/core";
import { computePerplexity } from "@elitekv/eval";
import { createOrtBackend, createOrtMatmul, type OrtMatmul } from "@elitekv/runtime-ort";
import { hasShared } from "@elitekv/vitest-config/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  baseAttentionOutput,
  baseAttentionWeights,
  calibrationWindows,
  eliteAttendedLatents,
  eliteAttentionOutput,
  eliteAttentionWeights,
  recoverLayerwise,
  type LayerwiseRecoveryResult,
} from "../src/index.js";
import { convertedModel, loadTinyStories, tinyStoriesIds } from "./fixtures.js";

const seqLen = 256;
const calibrationTokens = 16 * seqLen;
const heldOutChars = 12_000;

async function perplexity(backend: Backend, model: LoadedModel, ids: number[]): Promise<number> {
  const session = await backend.createSession(model, { maxContext: seqLen });
  try {
    return (await computePerplexity(session, ids, { window: seqLen })).ppl;
  } finally {
    await session.dispose();
  }
}

/** Captures layer `layer`'s attention inputs of `model` for every window. */
async function captureInputs(backend: Backend, model: LoadedModel, windows: number[][], layer: number): Promise<Matrix[]> {
  const hidden = model.config.hiddenSize;
  const session = await backend.createSession(model, { maxContext: seqLen });
  try {
    const captured: Matrix[] = [];
    for (const window of windows) {
      const inputs = createMatrix(window.length, hidden);
      session.reset();
      await session.prefill(window, {
        capture: { layers: [layer], attentionInput: true, onCapture: (event) => inputs.data.set(event.attentionInput!, event.startPosition * hidden) },
      });
      captured.push(inputs);
    }
    return captured;
  } finally {
    await session.dispose();
  }
}

describe.skipIf(!hasShared)("recoverLayerwise on tinystories-656k at 25%", () => {
  let backend: Backend;
  let matmul: OrtMatmul;
  let base: LoadedModel;
  let model: LoadedModel;
  let ids: { calibration: number[]; heldOut: number[] };
  let result: LayerwiseRecoveryResult;

  beforeAll(async () => {
    backend = createOrtBackend({ threads: 2 });
    matmul = await createOrtMatmul({ threads: 2 });
    base = await loadTinyStories();
    model = await convertedModel(base, { ratio: 0.25 });
    ids = tinyStoriesIds(base, calibrationTokens, heldOutChars);
    result = await recoverLayerwise(base, model, { ids: ids.calibration, seqLen, backend, matmul });
  });

  afterAll(async () => {
    await matmul?.dispose();
    await backend?.dispose();
  });

  it("lowers every layer's calibration loss", () => {
    expect(result.tokens).toBe(calibrationTokens);
    expect(result.windows).toBe(16);
    expect(result.layers.map((layer) => layer.layer)).toEqual([0, 1]);
    for (const layer of result.layers) {
      expect(layer.resumed).toBe(false);
      expect(layer.lossBefore).toBeGreaterThan(0.01);
      expect(layer.lossAfter).toBeLessThan(0.95 * layer.lossBefore);
    }
  });

  it("reports the loss a direct recomputation finds", async () => {
    const recovered = { ...model, weights: result.weights };
    const windows = calibrationWindows(ids.calibration, seqLen, base.config.maxPositionEmbeddings);
    const table = buildRopeTable(base.config, seqLen);

    // The inputs of layer l depend only on layers < l, so the recovered model reproduces the inputs of the fit.
    for (const record of result.layers) {
      const layer = record.layer;
      const inputs = await captureInputs(backend, recovered, windows, layer);
      for (const [expected, weights] of [[record.lossBefore, model.weights], [record.lossAfter, result.weights]] as const) {
        const layerWeights = eliteAttentionWeights(weights, layer);
        let error = 0;
        let energy = 0;
        for (const x of inputs) {
          const target = await baseAttentionOutput(base.config, baseAttentionWeights(base.weights, layer), x, table, matmul);
          const attended = await eliteAttendedLatents(base.config, model.elite!.layers[layer], layerWeights, x, table, matmul);
          const output = await eliteAttentionOutput(base.config, attended, layerWeights.valueUp, layerWeights.output, matmul);
          for (let i = 0; i < target.data.length; i++) {
            error += (target.data[i] - output.data[i]) ** 2;
            energy += target.data[i] ** 2;
          }
        }
        // The fit reports the loss of its float64 weights; the store keeps them rounded to float32.
        expect(Math.abs(error / energy - expected)).toBeLessThan(1e-4 * expected);
      }
    }
  });

  it("lowers the held-out perplexity", async () => {
    const basePpl = await perplexity(backend, base, ids.heldOut);
    const convertedPpl = await perplexity(backend, model, ids.heldOut);
    const recoveredPpl = await perplexity(backend, { ...model, weights: result.weights }, ids.heldOut);

    expect(convertedPpl).toBeGreaterThan(basePpl);
    expect(recoveredPpl).toBeLessThan(convertedPpl);
    // At least a tenth of the conversion's perplexity increase is recovered.
    expect(convertedPpl - recoveredPpl).toBeGreaterThan(0.1 * (convertedPpl - basePpl));
  });
});

describe.skipIf(!hasShared)("recoverLayerwise with gradient steps", () => {
  const shortWindow = 128;
  let backend: Backend;
  let matmul: OrtMatmul;
  let base: LoadedModel;
  let model: LoadedModel;
  let ids: { calibration: number[]; heldOut: number[] };

  beforeAll(async () => {
    backend = createOrtBackend({ threads: 2 });
    matmul = await createOrtMatmul({ threads: 2 });
    base = await loadTinyStories();
    model = await convertedModel(base, { ratio: 0.25 });
    ids = tinyStoriesIds(base, 16 * shortWindow, heldOutChars);
  });

  afterAll(async () => {
    await matmul?.dispose();
    await backend?.dispose();
  });

  it("beats least squares alone", async () => {
    const options = { ids: ids.calibration, seqLen: shortWindow, backend, matmul };
    const leastSquares = await recoverLayerwise(base, model, options);
    const stepped = await recoverLayerwise(base, model, { ...options, steps: 100, learningRate: 3e-3, seed: 1 });

    for (const layer of [0, 1]) {
      expect(stepped.layers[layer].lossAfter, `layer ${layer}`).toBeLessThan(0.9 * leastSquares.layers[layer].lossAfter);
    }
    // Layer 0 sees the same inputs in both runs, so its loss before the fit agrees.
    expect(stepped.layers[0].lossBefore).toBe(leastSquares.layers[0].lossBefore);

    const leastSquaresPpl = await perplexity(backend, { ...model, weights: leastSquares.weights }, ids.heldOut);
    const steppedPpl = await perplexity(backend, { ...model, weights: stepped.weights }, ids.heldOut);
    expect(steppedPpl).toBeLessThan(leastSquaresPpl);
  });
});
