import {
  eliteNopeDims,
  eliteRopeDims,
  eliteWeightNames,
  InvalidArgumentError,
  weightNames,
  type LoadedModel,
  type Tensor,
} from "@elitekv/core";
import { loadModel } from "@elitekv/models";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { beforeAll, describe, expect, it } from "vitest";

import { convertModel, type ChunkRanking } from "../src/index.js";

/** Builds a different chunk order per layer and KV head, so head bookkeeping errors show up as wrong rows. */
function mixedRanking(layers: number, kvHeads: number, chunkCount: number): ChunkRanking {
  return {
    layers: Array.from({ length: layers }, (_, layer) => ({
      kvHeads: Array.from({ length: kvHeads }, (_, head) => ({
        ranking: Array.from({ length: chunkCount }, (_, index) => (index * (head % 2 === 0 ? 1 : chunkCount - 1) + head + layer) % chunkCount),
      })),
    })),
  };
}

/** Returns row `row` of wUp · wDown, a [rows, latent] by [latent, hidden] product. */
function upProjectedRow(up: Tensor, down: Tensor, row: number): Float64Array {
  const latent = up.shape[1];
  const hidden = down.shape[1];
  const result = new Float64Array(hidden);
  for (let k = 0; k < latent; k++) {
    const scale = up.data[row * latent + k];
    for (let i = 0; i < hidden; i++) result[i] += scale * down.data[k * hidden + i];
  }
  return result;
}

function maxRowDifference(actual: ArrayLike<number>, source: Tensor, row: number): number {
  const hidden = source.shape[1];
  let max = 0;
  for (let i = 0; i < hidden; i++) max = Math.max(max, Math.abs(actual[i] - source.data[row * hidden + i]));
  return max;
}

/**
 * Rebuilds every key and value row of every layer from the converted weights, following the weight
 * conventions (rope rows per KV head in eliteRopeDims order, nope rows ascending), and returns the
 * largest absolute difference to the source wk and wv.
 */
async function reconstructionError(model: LoadedModel, ranking: ChunkRanking, ropeChunks: number, latentDim: number): Promise<number> {
  const { config } = model;
  const converted = await convertModel(model, ranking, { ropeChunks, latentDim }, { svd: "weight" });
  let worst = 0;
  for (let layer = 0; layer < config.numLayers; layer++) {
    const key = model.weights.get(weightNames.keyProjection(layer));
    const value = model.weights.get(weightNames.valueProjection(layer));
    const ropeRows = converted.weights.get(eliteWeightNames.ropeKeyProjection(layer));
    const down = converted.weights.get(eliteWeightNames.latentDownProjection(layer));
    const keyUp = converted.weights.get(eliteWeightNames.keyUpProjection(layer));
    const valueUp = converted.weights.get(eliteWeightNames.valueUpProjection(layer));

    for (let head = 0; head < config.numKvHeads; head++) {
      const chunks = converted.elite.layers[layer].ropeChunks[head];
      expect(chunks).toEqual(ranking.layers[layer].kvHeads[head].ranking.slice(0, ropeChunks));
      eliteRopeDims(config.headDim, chunks).forEach((dim, position) => {
        const row = ropeRows.data.subarray((head * 2 * ropeChunks + position) * config.hiddenSize, (head * 2 * ropeChunks + position + 1) * config.hiddenSize);
        worst = Math.max(worst, maxRowDifference(row, key, head * config.headDim + dim));
      });
      eliteNopeDims(config.headDim, chunks).forEach((dim, position) => {
        const row = upProjectedRow(keyUp, down, head * (config.headDim - 2 * ropeChunks) + position);
        worst = Math.max(worst, maxRowDifference(row, key, head * config.headDim + dim));
      });
      for (let dim = 0; dim < config.headDim; dim++) {
        const row = upProjectedRow(valueUp, down, head * config.headDim + dim);
        worst = Math.max(worst, maxRowDifference(row, value, head * config.headDim + dim));
      }
    }
  }
  return worst;
}

describe.skipIf(!hasShared)("convertModel on stories260K", () => {
  let model: LoadedModel;

  beforeAll(async () => {
    model = await loadModel(sharedPath("models", "stories260K", "stories260K.bin"));
  });

  it("reproduces wk and wv with all chunks rotated", async () => {
    const ranking = mixedRanking(5, 4, 4);
    expect(await reconstructionError(model, ranking, 4, 32)).toBeLessThan(1e-5);
  });

  it("reproduces wk and wv at the rank bound", async () => {
    // r = 2: W_kv is 64 × 4·(16 − 4) = 64 × 48, so d_c = 48 is its full rank.
    const ranking = mixedRanking(5, 4, 4);
    expect(await reconstructionError(model, ranking, 2, 48)).toBeLessThan(1e-5);
  });

  it("keeps each KV head's own chunks", async () => {
    const ranking = mixedRanking(5, 4, 4);
    const converted = await convertModel(model, ranking, { ropeChunks: 1, latentDim: 8 }, { svd: "weight" });

    const firstLayer = converted.elite.layers[0].ropeChunks;
    expect(firstLayer).toEqual([[0], [1], [2], [3]]);
    expect(new Set(firstLayer.map((chunks) => chunks[0])).size).toBe(4);
    const key = model.weights.get(weightNames.keyProjection(0));
    const ropeRows = converted.weights.get(eliteWeightNames.ropeKeyProjection(0));
    // KV head 3 keeps chunk 3: dims 3 and 3 + 4 of its head, stored as rows 6 and 7.
    expect(Array.from(ropeRows.data.subarray(6 * 64, 7 * 64))).toEqual(Array.from(key.data.subarray((3 * 8 + 3) * 64, (3 * 8 + 4) * 64)));
    expect(Array.from(ropeRows.data.subarray(7 * 64, 8 * 64))).toEqual(Array.from(key.data.subarray((3 * 8 + 7) * 64, (3 * 8 + 8) * 64)));
  });

  it("writes the documented weight shapes", async () => {
    const converted = await convertModel(model, mixedRanking(5, 4, 4), { ratio: 0.5 }, { svd: "weight" });

    // ρ = 0.5: r = round(1) = 1, d_c = 32 − 8 = 24.
    expect(converted.ratio).toBe(0.5);
    expect(converted.elite.ropeChunksPerHead).toBe(1);
    expect(converted.weights.get(eliteWeightNames.ropeKeyProjection(4)).shape).toEqual([8, 64]);
    expect(converted.weights.get(eliteWeightNames.latentDownProjection(4)).shape).toEqual([24, 64]);
    expect(converted.weights.get(eliteWeightNames.keyUpProjection(4)).shape).toEqual([24, 24]);
    expect(converted.weights.get(eliteWeightNames.valueUpProjection(4)).shape).toEqual([32, 24]);
    expect(converted.weights.has(weightNames.keyProjection(0))).toBe(false);
    expect(converted.weights.has(weightNames.valueProjection(0))).toBe(false);
    expect(converted.weights.get(weightNames.queryProjection(0))).toBe(model.weights.get(weightNames.queryProjection(0)));
    expect(converted.report).toHaveLength(5);
    expect(converted.report[0].weightRelativeError).toBeGreaterThan(0);
    expect(converted.report[0].weightRelativeError).toBeLessThan(1);
  });

  it("rejects a ranking for another model", async () => {
    await expect(convertModel(model, mixedRanking(4, 4, 4), { ratio: 0.5 }, { svd: "weight" })).rejects.toThrow(
      /covers 4 layers but the model has 5/,
    );
    await expect(convertModel(model, mixedRanking(5, 2, 4), { ratio: 0.5 }, { svd: "weight" })).rejects.toThrow(
      /ranks 2 KV heads but the model has 4/,
    );
  });

  it("rejects a ranking with repeated chunks", async () => {
    const ranking = mixedRanking(5, 4, 4);
    ranking.layers[2].kvHeads[1].ranking = [1, 1, 2, 3];
    await expect(convertModel(model, ranking, { ratio: 0.5 }, { svd: "weight" })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("rejects activation SVD without covariances", async () => {
    await expect(convertModel(model, mixedRanking(5, 4, 4), { ratio: 0.5 }, { svd: "activation" })).rejects.toThrow(
      /needs one covariance per layer \(5\), got none/,
    );
  });
});

describe.skipIf(!hasShared)("convertModel on tinystories-656k", () => {
  it("reproduces wk and wv at the rank bound", async () => {
    const model = await loadModel(sharedPath("models", "tinystories-656k"));
    const { config } = model;
    const chunkCount = config.headDim / 2;
    const ropeChunks = 3;
    const latentDim = Math.min(config.hiddenSize, config.numKvHeads * (2 * config.headDim - 2 * ropeChunks));

    const error = await reconstructionError(model, mixedRanking(config.numLayers, config.numKvHeads, chunkCount), ropeChunks, latentDim);

    expect(error).toBeLessThan(1e-5);
  });
});
