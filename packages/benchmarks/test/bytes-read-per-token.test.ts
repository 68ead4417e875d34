import { convertModel } from "@elitekv/converter";
import { fullCacheLayout, eliteCacheLayout, InvalidArgumentError, type EliteKvConfig, type ModelConfig, type WeightStore } from "@elitekv/core";
import { loadModel } from "@elitekv/models";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { describe, expect, it } from "vitest";

import { decodeBytesReadPerToken, weightElementsReadPerToken } from "../src/index.js";

/** SmolLM2-135M-Instruct as its GGUF header describes it. */
const smollm2: ModelConfig = {
  architecture: "llama",
  hiddenSize: 576,
  intermediateSize: 1536,
  numLayers: 30,
  numHeads: 9,
  numKvHeads: 3,
  headDim: 64,
  vocabSize: 49152,
  maxPositionEmbeddings: 8192,
  rmsNormEps: 1e-5,
  rope: { theta: 100000, scaling: { type: "none" }, rotaryDim: 64, sourceLayout: "interleaved" },
  tieWordEmbeddings: true,
  bosTokenId: 1,
  eosTokenIds: [2],
};

/** EliteKV at ratio 0.25 by the ratio rule: r = round(0.25 · 64 / 4) = 4, d_c = round(0.25 · 384) − 2 · 3 · 4 = 72. */
const smollm2Quarter: EliteKvConfig = {
  ropeChunksPerHead: 4,
  layers: Array.from({ length: 30 }, () => ({ ropeChunks: [[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]], latentDim: 72 })),
};

/** Sum of every tensor's elements, with the embedding matrix replaced by one row and a tied head counted whole. */
function storeElementsReadPerToken(weights: WeightStore, config: ModelConfig): number {
  let total = 0;
  for (const name of weights.names()) total += weights.get(name).data.length;
  const embedding = config.vocabSize * config.hiddenSize;
  const head = config.tieWordEmbeddings ? embedding : 0;
  return total - embedding + config.hiddenSize + head;
}

describe("weightElementsReadPerToken", () => {
  it("counts SmolLM2's base weights", () => {
    // Per layer: norms 2 · 576 = 1,152; wq 576 · 576 = 331,776; wk + wv 2 · 192 · 576 = 221,184;
    // wo 331,776; FFN 3 · 1536 · 576 = 2,654,208; together 3,540,096, times 30 layers = 106,202,880.
    // Head: final norm 576 + 49,152 · 576 = 28,312,128. Embedding row: 576.
    const read = weightElementsReadPerToken(smollm2);
    expect(read.layers).toBe(106_202_880);
    expect(read.head).toBe(28_312_128);
    expect(read.embeddingRow).toBe(576);
    expect(read.total).toBe(134_515_584);
  });

  it("counts SmolLM2's EliteKV 25% weights", () => {
    // Attention per layer: wq 331,776; wk_rope 3 · 8 · 576 = 13,824; w_dkv 72 · 576 = 41,472;
    // w_uk 3 · 56 · 72 = 12,096; w_uv 3 · 64 · 72 = 13,824; wo 331,776. With norms and FFN:
    // 3,400,128 per layer, 102,003,840 for 30 layers.
    const read = weightElementsReadPerToken(smollm2, smollm2Quarter);
    expect(read.layers).toBe(102_003_840);
    expect(read.total).toBe(102_003_840 + 28_312_128 + 576);
  });

  it("rejects an EliteKV config of another depth", () => {
    const shallow = { ...smollm2Quarter, layers: smollm2Quarter.layers.slice(0, 4) };
    expect(() => weightElementsReadPerToken(smollm2, shallow)).toThrow(InvalidArgumentError);
  });
});

describe("decodeBytesReadPerToken", () => {
  it("adds f32 weights and the full cache at 1000 tokens", () => {
    // Full cache: 2 · 3 · 64 values · 30 layers · 4 bytes = 46,080 bytes per token.
    const bytes = decodeBytesReadPerToken({
      config: smollm2,
      weightBytesPerElement: 4,
      cacheLayout: fullCacheLayout(smollm2),
      cacheTokens: 1000,
    });
    expect(bytes.weightBytes).toBe(538_062_336);
    expect(bytes.cacheBytes).toBe(46_080_000);
    expect(bytes.totalBytes).toBe(584_142_336);
  });

  it("counts the EliteKV cache at a quarter of the full one", () => {
    // (2 · 3 · 4 + 72) values · 30 layers · 4 bytes = 11,520 bytes per token.
    const bytes = decodeBytesReadPerToken({
      config: smollm2,
      elite: smollm2Quarter,
      weightBytesPerElement: 2,
      cacheLayout: eliteCacheLayout(smollm2, smollm2Quarter),
      cacheTokens: 8192,
    });
    expect(bytes.cacheBytes).toBe(11_520 * 8192);
    expect(bytes.weightBytes).toBe((102_003_840 + 28_312_128 + 576) * 2);
  });

  it("rejects invalid byte widths and token counts", () => {
    const layout = fullCacheLayout(smollm2);
    expect(() => decodeBytesReadPerToken({ config: smollm2, weightBytesPerElement: 0, cacheLayout: layout, cacheTokens: 1 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => decodeBytesReadPerToken({ config: smollm2, weightBytesPerElement: 4, cacheLayout: layout, cacheTokens: -1 })).toThrow(
      InvalidArgumentError,
    );
  });
});

describe.skipIf(!hasShared)("weightElementsReadPerToken on stories260K", () => {
  it("matches the loaded weight store", async () => {
    const model = await loadModel(sharedPath("models", "stories260K", "stories260K.bin"));
    expect(weightElementsReadPerToken(model.config).total).toBe(storeElementsReadPerToken(model.weights, model.config));
  });

  it("matches the converted weight store", async () => {
    const model = await loadModel(sharedPath("models", "stories260K", "stories260K.bin"));
    const chunks = [0, 1, 2, 3];
    const ranking = {
      layers: Array.from({ length: model.config.numLayers }, () => ({
        kvHeads: Array.from({ length: model.config.numKvHeads }, () => ({ ranking: chunks })),
      })),
    };
    const converted = await convertModel(model, ranking, { ropeChunks: 1, latentDim: 12 }, { svd: "weight" });

    const read = weightElementsReadPerToken(model.config, converted.elite);
    expect(read.total).toBe(storeElementsReadPerToken(converted.weights, model.config));
    expect(read.total).toBeLessThan(weightElementsReadPerToken(model.config).total);
  });
});
