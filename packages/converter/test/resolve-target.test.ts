import { InvalidArgumentError, type ModelConfig } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { maxLatentDim, resolveTarget, ropeChunkCandidates } from "../src/index.js";

function modelConfig(overrides: Partial<ModelConfig>): ModelConfig {
  return {
    architecture: "llama",
    hiddenSize: 64,
    intermediateSize: 172,
    numLayers: 5,
    numHeads: 8,
    numKvHeads: 4,
    headDim: 8,
    vocabSize: 512,
    maxPositionEmbeddings: 512,
    rmsNormEps: 1e-5,
    rope: { theta: 10000, scaling: { type: "none" }, rotaryDim: 8, sourceLayout: "interleaved" },
    tieWordEmbeddings: true,
    bosTokenId: 1,
    eosTokenIds: [2],
    ...overrides,
  };
}

// LLaMA2-7B: 32 KV heads of 128 dims, hidden size 4096.
const llama7b = modelConfig({ hiddenSize: 4096, numHeads: 32, numKvHeads: 32, headDim: 128, rope: { theta: 10000, scaling: { type: "none" }, rotaryDim: 128, sourceLayout: "half" } });
// stories260K: G = 4, h = 8, D = 64, so the full cache width 2Gh equals D.
const stories = modelConfig({});

function expectInvalidArgument(run: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidArgumentError);
  expect((caught as Error).message).toMatch(pattern);
}

describe("resolveTarget", () => {
  it("applies the ratio rule on LLaMA2-7B", () => {
    // ρ = 0.25: r = round(0.25·128/4) = 8, d_c = round(0.25·8192) − 2·32·8 = 2048 − 512 = 1536.
    expect(resolveTarget(llama7b, { ratio: 0.25 })).toEqual({ ropeChunks: 8, latentDim: 1536, ratio: 0.25 });
  });

  it("reports the exact achieved ratio", () => {
    // ρ = 0.3 on stories260K: r = max(1, round(0.6)) = 1, d_c = round(19.2) − 8 = 11; (8 + 11) / 64.
    const resolved = resolveTarget(stories, { ratio: 0.3 });
    expect(resolved.ropeChunks).toBe(1);
    expect(resolved.latentDim).toBe(11);
    expect(resolved.ratio).toBe(19 / 64);
  });

  it("accepts an explicit target", () => {
    expect(resolveTarget(llama7b, { ropeChunks: 4, latentDim: 1792 })).toEqual({ ropeChunks: 4, latentDim: 1792, ratio: 0.25 });
  });

  it("accepts the rank bound as latentDim", () => {
    expect(maxLatentDim(stories, 2)).toBe(48);
    expect(maxLatentDim(stories, 0)).toBe(64);
    expect(resolveTarget(stories, { ropeChunks: 2, latentDim: 48 }).ratio).toBe((16 + 48) / 64);
  });

  it("rejects ropeChunks above h/2", () => {
    expectInvalidArgument(() => resolveTarget(stories, { ropeChunks: 5, latentDim: 8 }), /ropeChunks must be an integer in 0\.\.4/);
  });

  it("rejects latentDim below 1", () => {
    expectInvalidArgument(() => resolveTarget(stories, { ropeChunks: 2, latentDim: 0 }), /latentDim must be an integer in 1\.\.48/);
  });

  it("rejects latentDim above the rank bound", () => {
    expectInvalidArgument(() => resolveTarget(stories, { ropeChunks: 3, latentDim: 41 }), /1\.\.40 for ropeChunks 3/);
  });

  it("rejects a ratio too small for one chunk", () => {
    // ρ = 0.1: r = 1, d_c = round(6.4) − 8 = −2. The smallest feasible grid ratio is 9/64.
    expectInvalidArgument(() => resolveTarget(stories, { ratio: 0.1 }), /ratios from 0\.140625 to 1 work/);
  });

  it("rejects a ratio above the rank bound", () => {
    // MHA with D = G·h: at ρ = 0.9, r = round(0.9·16/4) = 4 and d_c = round(0.9·128) − 32 = 83 > 64.
    const mha = modelConfig({ hiddenSize: 64, numHeads: 4, numKvHeads: 4, headDim: 16, rope: { theta: 10000, scaling: { type: "none" }, rotaryDim: 16, sourceLayout: "interleaved" } });
    expectInvalidArgument(() => resolveTarget(mha, { ratio: 0.9 }), /latentDim must be in 1\.\.64; ratios from/);
  });

  it("rejects a ratio outside (0, 1]", () => {
    expectInvalidArgument(() => resolveTarget(stories, { ratio: 0 }), /ratio must be a number in \(0, 1\]/);
    expectInvalidArgument(() => resolveTarget(stories, { ratio: 1.5 }), /ratio must be a number in \(0, 1\]/);
    expectInvalidArgument(() => resolveTarget(stories, { ratio: Number.NaN }), /ratio must be a number in \(0, 1\]/);
  });
});

describe("ropeChunkCandidates", () => {
  // SmolLM2-135M: G = 3, h = 64, D = 576, so the full cache width 2Gh is 384.
  const smollm2 = modelConfig({ hiddenSize: 576, numHeads: 9, numKvHeads: 3, headDim: 64 });

  it("spans the rule's r on SmolLM2", () => {
    // ρ = 0.25: budget 96 values, rule r = 4; candidates r = 2, 4, 6, 8, 12 with d_c = 96 − 6r.
    const candidates = ropeChunkCandidates(smollm2, 0.25);

    expect(candidates.map((target) => [target.ropeChunks, target.latentDim])).toEqual([
      [2, 84],
      [4, 72],
      [6, 60],
      [8, 48],
      [12, 24],
    ]);
    for (const target of candidates) expect(target.ratio).toBe(0.25);
  });

  it("includes the rule's target", () => {
    for (const ratio of [0.5, 0.375, 0.25, 0.125]) {
      const rule = resolveTarget(smollm2, { ratio });
      expect(ropeChunkCandidates(smollm2, ratio)).toContainEqual(rule);
    }
  });

  it("drops infeasible splits", () => {
    // stories260K at ρ = 0.25: budget 16 values, rule r = 1 (d_c 8); r = 2 leaves d_c 0.
    expect(ropeChunkCandidates(stories, 0.25).map((target) => target.ropeChunks)).toEqual([1]);
  });

  it("rejects an unreachable ratio", () => {
    expect(() => ropeChunkCandidates(stories, 0.01)).toThrow(InvalidArgumentError);
  });
});
