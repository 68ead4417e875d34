import { describe, expect, it } from "vitest";

import {
  cacheBytesPerToken,
  eliteCacheLayout,
  eliteLayerRatio,
  eliteNopeDims,
  eliteRopeDims,
  InvalidConfigError,
  validateEliteKvConfig,
  type EliteKvConfig,
  type ModelConfig,
} from "../src/index.js";

const config: ModelConfig = {
  architecture: "llama",
  hiddenSize: 64,
  intermediateSize: 172,
  numLayers: 2,
  numHeads: 8,
  numKvHeads: 4,
  headDim: 8,
  vocabSize: 512,
  maxPositionEmbeddings: 512,
  rmsNormEps: 1e-5,
  rope: { theta: 10000, rotaryDim: 8, sourceLayout: "interleaved", scaling: { type: "none" } },
  tieWordEmbeddings: true,
  bosTokenId: 1,
  eosTokenIds: [2],
};

const elite: EliteKvConfig = {
  ropeChunksPerHead: 2,
  layers: [
    { ropeChunks: [[3, 0], [1, 2], [0, 1], [2, 3]], latentDim: 24 },
    { ropeChunks: [[0, 1], [0, 2], [3, 1], [1, 0]], latentDim: 16 },
  ],
};

describe("elite dims", () => {
  it("list rope dims as first halves then second halves", () => {
    expect(eliteRopeDims(8, [3, 0])).toEqual([3, 0, 7, 4]);
  });

  it("list the remaining dims ascending", () => {
    expect(eliteNopeDims(8, [3, 0])).toEqual([1, 2, 5, 6]);
  });
});

describe("elite cache size", () => {
  it("follows (2Gr + d_c) / (2Gh)", () => {
    expect(eliteLayerRatio(config, 2, 24)).toBe((2 * 4 * 2 + 24) / (2 * 4 * 8));
    expect(cacheBytesPerToken(eliteCacheLayout(config, elite))).toBe((2 * 4 * 2 + 24 + 2 * 4 * 2 + 16) * 4);
  });
});

describe("validateEliteKvConfig", () => {
  it("accepts a consistent config", () => {
    expect(validateEliteKvConfig(config, elite)).toBe(elite);
  });

  it("rejects repeated chunks", () => {
    const bad = structuredClone(elite);
    bad.layers[1].ropeChunks[2] = [1, 1];
    expect(() => validateEliteKvConfig(config, bad)).toThrow(/layer 1 KV head 2/);
  });

  it("rejects a chunk out of range", () => {
    const bad = structuredClone(elite);
    bad.layers[0].ropeChunks[0] = [0, 4];
    expect(() => validateEliteKvConfig(config, bad)).toThrow(InvalidConfigError);
  });

  it("rejects a latent above the joint rank", () => {
    const bad = structuredClone(elite);
    bad.layers[0].latentDim = 4 * (16 - 4) + 1;
    expect(() => validateEliteKvConfig(config, bad)).toThrow(/latentDim must be an integer in 1..48/);
  });

  it("rejects a layer count mismatch", () => {
    expect(() => validateEliteKvConfig(config, { ...elite, layers: elite.layers.slice(1) })).toThrow(/1 layers but the model has 2/);
  });
});
