import { InvalidArgumentError } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { rooflineEstimate, rooflineTokensPerSecond } from "../src/index.js";

describe("rooflineTokensPerSecond", () => {
  it("divides bandwidth by bytes per token", () => {
    // 20 GB/s over 500 MB per token allows at most 40 tokens/s.
    expect(rooflineTokensPerSecond(20e9, 500e6)).toBe(40);
  });

  it("rejects zero, negative and non-finite inputs", () => {
    expect(() => rooflineTokensPerSecond(0, 1)).toThrow(InvalidArgumentError);
    expect(() => rooflineTokensPerSecond(1, 0)).toThrow(InvalidArgumentError);
    expect(() => rooflineTokensPerSecond(-5, 1)).toThrow(InvalidArgumentError);
    expect(() => rooflineTokensPerSecond(Number.POSITIVE_INFINITY, 1)).toThrow(InvalidArgumentError);
  });
});

describe("rooflineEstimate", () => {
  it("reports the measured fraction of the bound", () => {
    // SmolLM2 full cache at 1000 tokens, f32: 584,142,336 bytes per token. At 16 GB/s the bound is
    // 16e9 / 584,142,336 = 27.3906 tokens/s, and 13.6953 tokens/s measured is half of it.
    const estimate = rooflineEstimate(16e9, 584_142_336, 13.695_292_238);
    expect(estimate.boundTokensPerSecond).toBeCloseTo(27.390_584_476, 6);
    expect(estimate.fractionOfBound).toBeCloseTo(0.5, 6);
    expect(estimate.bytesPerToken).toBe(584_142_336);
    expect(estimate.bandwidthBytesPerSecond).toBe(16e9);
    expect(estimate.measuredTokensPerSecond).toBe(13.695_292_238);
  });
});
