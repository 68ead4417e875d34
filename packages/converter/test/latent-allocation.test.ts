// Per-layer latent widths. The greedy split is checked against a brute-force search, the energy spectrum
// against the singular values of the factored matrix. A spectrum conversion of stories260K must keep the
// cache size and run on the CPU backend.
import {
  createMatrix,
  createRandom,
  dampedCholesky,
  InvalidArgumentError,
  multiply,
  svd,
  transpose,
  weightNames,
  type LoadedModel,
  type Matrix,
} from "@elitekv/core";
import { loadModel } from "@elitekv/models";
import { createCpuBackend } from "@elitekv/runtime-cpu";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { beforeAll, describe, expect, it } from "vitest";

import { allocateLatentDims, convertModel, jointEnergySpectrum, jointKeyValueMatrix, selectEliteChunks, type ChunkRanking } from "../src/index.js";

/** Returns the retained energy fractions summed over layers for `dims`. */
function retained(spectra: Float64Array[], dims: number[]): number {
  return spectra.reduce((sum, spectrum, layer) => {
    const total = spectrum.reduce((a, b) => a + b, 0);
    return sum + spectrum.slice(0, dims[layer]).reduce((a, b) => a + b, 0) / total;
  }, 0);
}

function descending(values: number[]): Float64Array {
  return Float64Array.from([...values].sort((a, b) => b - a));
}

function randomMatrix(rows: number, cols: number, seed: number): Matrix {
  const random = createRandom(seed);
  const matrix = createMatrix(rows, cols);
  for (let i = 0; i < matrix.data.length; i++) matrix.data[i] = random.next() - 0.5;
  return matrix;
}

describe("allocateLatentDims", () => {
  it("matches a brute-force search", () => {
    const spectra = [descending([9, 3, 1, 0.5, 0.1]), descending([4, 4, 3, 1, 1]), descending([20, 0.2, 0.1, 0.1, 0.05])];
    for (const total of [3, 5, 8, 11]) {
      const dims = allocateLatentDims(spectra, total, 1);

      let best = -Infinity;
      for (let a = 1; a <= 5; a++) for (let b = 1; b <= 5; b++) for (let c = 1; c <= 5; c++) {
        if (a + b + c === total) best = Math.max(best, retained(spectra, [a, b, c]));
      }
      expect(dims.reduce((sum, dim) => sum + dim, 0), `total ${total}`).toBe(total);
      expect(retained(spectra, dims), `total ${total}`).toBeCloseTo(best, 12);
    }
  });

  it("keeps the floor and the rank bound", () => {
    const spectra = [descending([100, 50, 25]), descending([1e-6, 1e-7, 1e-8, 1e-9])];

    expect(allocateLatentDims(spectra, 5, 2)).toEqual([3, 2]);
    expect(allocateLatentDims(spectra, 7, 1)).toEqual([3, 4]);
  });

  it("rejects a total it cannot split", () => {
    const spectra = [descending([3, 2]), descending([3, 2])];

    expect(() => allocateLatentDims(spectra, 5)).toThrow(InvalidArgumentError);
    expect(() => allocateLatentDims(spectra, 5)).toThrow(/cannot split 5 latent dims over 2 layers with 1 to their rank bound each \(4 in all\)/);
    expect(() => allocateLatentDims(spectra, 3, 2)).toThrow(/cannot split 3 latent dims/);
  });
});

describe("jointEnergySpectrum", () => {
  it("returns the squared singular values of W_kv", async () => {
    const joint = randomMatrix(12, 7, 3);
    const expected = svd(joint).singularValues.map((value) => value * value);

    const spectrum = await jointEnergySpectrum(joint, { svd: "weight" });

    expect(spectrum).toHaveLength(7);
    for (let i = 0; i < 7; i++) expect(spectrum[i]).toBeCloseTo(expected[i], 10);
  });

  it("returns those of Lᵀ W_kv for the activation SVD", async () => {
    const joint = randomMatrix(10, 6, 4);
    const inputs = randomMatrix(40, 10, 5);
    const covariance = multiply(transpose(inputs), inputs);
    const { lower } = dampedCholesky(covariance);
    const expected = svd(multiply(transpose(lower), joint)).singularValues.map((value) => value * value);

    const spectrum = await jointEnergySpectrum(joint, { svd: "activation", covariance });

    for (let i = 0; i < 6; i++) expect(spectrum[i] / expected[i]).toBeCloseTo(1, 8);
    await expect(jointEnergySpectrum(joint, { svd: "activation" })).rejects.toThrow(/needs the covariance/);
  });
});

describe.skipIf(!hasShared)("spectrum conversion of stories260K", () => {
  let model: LoadedModel;
  let ranking: ChunkRanking;

  beforeAll(async () => {
    model = await loadModel(sharedPath("models", "stories260K", "stories260K.bin"));
    const chunks = Array.from({ length: model.config.headDim / 2 }, (_, j) => j);
    ranking = { layers: Array.from({ length: model.config.numLayers }, () => ({ kvHeads: Array.from({ length: model.config.numKvHeads }, () => ({ ranking: [...chunks] })) })) };
  });

  it("keeps the cache size and follows the spectra", async () => {
    const uniform = await convertModel(model, ranking, { ratio: 0.25 }, { svd: "weight" });
    const spectrum = await convertModel(model, ranking, { ratio: 0.25 }, { svd: "weight", latentAllocation: "spectrum" });
    const latentDim = uniform.elite.layers[0].latentDim;
    const dims = spectrum.elite.layers.map((layer) => layer.latentDim);

    expect(dims.reduce((sum, dim) => sum + dim, 0)).toBe(model.config.numLayers * latentDim);
    expect(new Set(dims).size).toBeGreaterThan(1);
    for (const dim of dims) expect(dim).toBeGreaterThanOrEqual(Math.ceil(latentDim / 4));
    expect(spectrum.ratio).toBe(uniform.ratio);

    // The split is the greedy allocation of the layers' own spectra.
    const chunks = selectEliteChunks(model.config, ranking, uniform.elite.ropeChunksPerHead);
    const spectra: Float64Array[] = [];
    for (let layer = 0; layer < model.config.numLayers; layer++) {
      const joint = jointKeyValueMatrix(model.config, model.weights.get(weightNames.keyProjection(layer)), model.weights.get(weightNames.valueProjection(layer)), chunks[layer]);
      spectra.push(await jointEnergySpectrum(joint.matrix, { svd: "weight" }));
    }
    expect(dims).toEqual(allocateLatentDims(spectra, model.config.numLayers * latentDim, Math.ceil(latentDim / 4)));
    expect(retained(spectra, dims)).toBeGreaterThan(retained(spectra, new Array(dims.length).fill(latentDim)));
  });

  it("runs with per-layer latent widths on the CPU backend", async () => {
    const spectrum = await convertModel(model, ranking, { ratio: 0.25 }, { svd: "weight", latentAllocation: "spectrum" });
    const converted: LoadedModel = { ...model, weights: spectrum.weights, elite: spectrum.elite };
    const backend = createCpuBackend({ threads: 1 });
    try {
      const ids = model.tokenizer.encode("Once upon a time there was a little dog", { addBos: true });
      const session = await backend.createSession(converted, { maxContext: 64 });
      const prefill = await session.prefill(ids, { logits: "all" });
      const lastRow = prefill.data.slice((ids.length - 1) * prefill.vocabSize);

      // Decoding the last id after a prefill of the others must give the prefill's last row.
      session.reset();
      await session.prefill(ids.slice(0, -1));
      const decoded = await session.decode(ids[ids.length - 1]);
      await session.dispose();

      let maxDifference = 0;
      for (let v = 0; v < lastRow.length; v++) maxDifference = Math.max(maxDifference, Math.abs(decoded.data[v] - lastRow[v]));
      expect(maxDifference).toBeLessThan(1e-4);
      expect(Math.max(...lastRow)).toBeGreaterThan(Math.min(...lastRow));
    } finally {
      await backend.dispose();
    }
  });

  it("rejects an unknown allocation", async () => {
    await expect(convertModel(model, ranking, { ratio: 0.25 }, { svd: "weight", latentAllocation: "greedy" as never })).rejects.toThrow(
      /latentAllocation must be "uniform" or "spectrum", got "greedy"/,
    );
  });
});
