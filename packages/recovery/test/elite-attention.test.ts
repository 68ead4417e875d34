// The recovery's own attention paths on tinystories-656k (8 query heads over 4 KV heads of 16 dims).
// A conversion that keeps every chunk rotated and a full latent must reproduce the base block. The
// absorbed scores must equal attention over rebuilt keys and values.
import {
  applyRope,
  buildRopeTable,
  createMatrix,
  createRandom,
  eliteNopeDims,
  eliteRopeDims,
  referenceMatmul,
  type Matrix,
} from "@elitekv/core";
import { hasShared } from "@elitekv/vitest-config/shared";
import { describe, expect, it } from "vitest";

import {
  baseAttentionOutput,
  baseAttentionWeights,
  eliteAttendedLatents,
  eliteAttentionOutput,
  eliteAttentionWeights,
} from "../src/index.js";
import { convertedModel, loadTinyStories } from "./fixtures.js";

const tokens = 24;

function randomInputs(hidden: number, seed: number): Matrix {
  const random = createRandom(seed);
  return createMatrix(tokens, hidden, Array.from({ length: tokens * hidden }, () => 2 * random.next() - 1));
}

function relativeDifference(a: Matrix, b: Matrix): number {
  let difference = 0;
  let energy = 0;
  for (let i = 0; i < a.data.length; i++) {
    difference += (a.data[i] - b.data[i]) ** 2;
    energy += b.data[i] ** 2;
  }
  return Math.sqrt(difference / energy);
}

describe.skipIf(!hasShared)("elite attention on tinystories-656k", () => {
  it("lossless conversion matches the base block", async () => {
    const base = await loadTinyStories();
    const { headDim, numKvHeads, hiddenSize } = base.config;
    // Every chunk rotated (r = h/2) and d_c = G·h: the latent represents the values exactly.
    const model = await convertedModel(base, { ropeChunks: headDim / 2, latentDim: numKvHeads * headDim });
    const table = buildRopeTable(base.config, tokens);
    const x = randomInputs(hiddenSize, 7);

    for (let layer = 0; layer < base.config.numLayers; layer++) {
      const expected = await baseAttentionOutput(base.config, baseAttentionWeights(base.weights, layer), x, table, referenceMatmul);
      const weights = eliteAttentionWeights(model.weights, layer);
      const attended = await eliteAttendedLatents(base.config, model.elite!.layers[layer], weights, x, table, referenceMatmul);
      const actual = await eliteAttentionOutput(base.config, attended, weights.valueUp, weights.output, referenceMatmul);

      expect(relativeDifference(actual, expected)).toBeLessThan(1e-5);
    }
  });

  it("absorbed scores equal rebuilt keys", async () => {
    const base = await loadTinyStories();
    const config = base.config;
    const { numHeads, numKvHeads, headDim, hiddenSize } = config;
    const model = await convertedModel(base, { ropeChunks: 2, latentDim: 20 });
    const layer = 1;
    const eliteLayer = model.elite!.layers[layer];
    const weights = eliteAttentionWeights(model.weights, layer);
    const table = buildRopeTable(config, tokens);
    const x = randomInputs(hiddenSize, 8);

    const attended = await eliteAttendedLatents(config, eliteLayer, weights, x, table, referenceMatmul);
    const actual = await eliteAttentionOutput(config, attended, weights.valueUp, weights.output, referenceMatmul);

    // Reference: rebuild each position's full key (rope dims from w_k_rope, nope dims W_uk c) and value
    // (W_uv c), rotate the elite chunks of q and k, and run plain causal attention per head.
    const r = eliteLayer.ropeChunks[0].length;
    const latentDim = eliteLayer.latentDim;
    const project = (w: Matrix, row: number) => {
      const out = new Float64Array(w.cols);
      for (let j = 0; j < w.cols; j++) for (let i = 0; i < hiddenSize; i++) out[j] += x.data[row * hiddenSize + i] * w.data[i * w.cols + j];
      return out;
    };
    const attention = createMatrix(tokens, numHeads * headDim);
    for (let head = 0; head < numHeads; head++) {
      const kvHead = Math.floor(head / (numHeads / numKvHeads));
      const chunks = eliteLayer.ropeChunks[kvHead];
      const keep = Array.from({ length: headDim / 2 }, (_, j) => chunks.includes(j));
      const ropeDims = eliteRopeDims(headDim, chunks);
      const nopeDims = eliteNopeDims(headDim, chunks);
      const keys: Float64Array[] = [];
      const values: Float64Array[] = [];
      for (let s = 0; s < tokens; s++) {
        const ropeKey = project(weights.ropeKeyT, s);
        const latent = project(weights.latentDownT, s);
        const key = new Float64Array(headDim);
        for (let m = 0; m < 2 * r; m++) key[ropeDims[m]] = ropeKey[kvHead * 2 * r + m];
        nopeDims.forEach((dim, n) => {
          for (let c = 0; c < latentDim; c++) key[dim] += weights.keyUp.data[(kvHead * nopeDims.length + n) * latentDim + c] * latent[c];
        });
        applyRope(key, 0, headDim, s, table, keep);
        const value = new Float64Array(headDim);
        for (let d = 0; d < headDim; d++) for (let c = 0; c < latentDim; c++) value[d] += weights.valueUp.data[(kvHead * headDim + d) * latentDim + c] * latent[c];
        keys.push(key);
        values.push(value);
      }
      for (let t = 0; t < tokens; t++) {
        const query = project(weights.queryT, t).slice(head * headDim, (head + 1) * headDim);
        applyRope(query, 0, headDim, t, table, keep);
        const scores = keys.slice(0, t + 1).map((key) => key.reduce((sum, k, d) => sum + k * query[d], 0) / Math.sqrt(headDim));
        const max = Math.max(...scores);
        const weightsOfPositions = scores.map((score) => Math.exp(score - max));
        const total = weightsOfPositions.reduce((a, b) => a + b, 0);
        for (let d = 0; d < headDim; d++) {
          let sum = 0;
          for (let s = 0; s <= t; s++) sum += (weightsOfPositions[s] / total) * values[s][d];
          attention.data[t * numHeads * headDim + head * headDim + d] = sum;
        }
      }
    }
    const expected = createMatrix(tokens, hiddenSize);
    for (let t = 0; t < tokens; t++) {
      for (let j = 0; j < hiddenSize; j++) {
        let sum = 0;
        for (let k = 0; k < numHeads * headDim; k++) sum += attention.data[t * numHeads * headDim + k] * weights.output.data[j * weights.output.cols + k];
        expected.data[t * hiddenSize + j] = sum;
      }
    }

    expect(r).toBe(2);
    expect(relativeDifference(actual, expected)).toBeLessThan(1e-10);
  });
});
