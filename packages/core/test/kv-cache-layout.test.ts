import { describe, expect, it } from "vitest";

import { cacheBytesPerToken, cacheRatio, type EliteCacheLayout, type FullCacheLayout } from "../src/index.js";

describe("cache byte accounting", () => {
  const full: FullCacheLayout = { kind: "full", layers: 30, kvHeads: 3, headDim: 64, dtype: "f32" };

  it("counts keys and values of every KV head", () => {
    expect(cacheBytesPerToken(full)).toBe(2 * 3 * 64 * 30 * 4);
    expect(cacheBytesPerToken({ ...full, dtype: "f16" })).toBe(2 * 3 * 64 * 30 * 2);
  });

  it("counts elite keys and the latent", () => {
    const elite: EliteCacheLayout = {
      kind: "elitekv",
      kvHeads: 3,
      headDim: 64,
      dtype: "f32",
      layers: Array.from({ length: 30 }, () => ({ ropeChunks: 4, latentDim: 72 })),
    };
    expect(cacheBytesPerToken(elite)).toBe((2 * 3 * 4 + 72) * 30 * 4);
    expect(cacheRatio(elite)).toBeCloseTo((2 * 3 * 4 + 72) / (2 * 3 * 64), 12);
  });
});
