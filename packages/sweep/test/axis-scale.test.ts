// Tick values and pixel mappings of the chart axes, against values worked out by hand.
import { InvalidArgumentError } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { formatTick, linearScale, logScale, logTicks, niceLinearTicks, paddedDomain } from "../src/svg/axis-scale.js";

describe("logTicks", () => {
  it("uses 1-2-5 steps within three decades", () => {
    expect(logTicks(3, 470)).toEqual([5, 10, 20, 50, 100, 200]);
  });

  it("uses powers of ten beyond three decades", () => {
    expect(logTicks(0.01, 1000)).toEqual([0.01, 0.1, 1, 10, 100, 1000]);
  });

  it("thins powers of ten over many decades", () => {
    // 12 decades with at most 8 ticks: every second power of ten, even exponents.
    expect(logTicks(1e-3, 1e9)).toEqual([0.01, 1, 100, 1e4, 1e6, 1e8]);
  });

  it("uses 1 to 9 steps within one decade", () => {
    expect(logTicks(0.25, 0.95)).toEqual([0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]);
  });

  it("falls back to linear ticks on a narrow range", () => {
    expect(logTicks(4.07, 4.5)).toEqual([4.1, 4.2, 4.3, 4.4, 4.5]);
  });

  it("rejects a non-positive range", () => {
    expect(() => logTicks(0, 10)).toThrow(InvalidArgumentError);
    expect(() => logTicks(-1, 10)).toThrow(InvalidArgumentError);
  });
});

describe("niceLinearTicks", () => {
  it("steps by 0.2 over [0, 1]", () => {
    expect(niceLinearTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  });

  it("steps by 5 over [3, 27]", () => {
    expect(niceLinearTicks(3, 27)).toEqual([5, 10, 15, 20, 25]);
  });

  it("rejects a reversed range", () => {
    expect(() => niceLinearTicks(2, 1)).toThrow(InvalidArgumentError);
  });
});

describe("scales", () => {
  it("maps a log domain by decades", () => {
    const scale = logScale([1, 100], [0, 200]);
    expect(scale.map(1)).toBeCloseTo(0, 12);
    expect(scale.map(10)).toBeCloseTo(100, 12);
    expect(scale.map(100)).toBeCloseTo(200, 12);
  });

  it("maps a reversed pixel range for the y axis", () => {
    const scale = linearScale([0, 10], [300, 100]);
    expect(scale.map(0)).toBe(300);
    expect(scale.map(5)).toBe(200);
    expect(scale.map(10)).toBe(100);
  });
});

describe("paddedDomain", () => {
  it("pads a linear range by 5% of its span", () => {
    const [low, high] = paddedDomain([2, 12], "linear");
    expect(low).toBeCloseTo(1.5, 12);
    expect(high).toBeCloseTo(12.5, 12);
  });

  it("pads a log range by 5% of its decades", () => {
    const [low, high] = paddedDomain([1, 100], "log");
    expect(low).toBeCloseTo(10 ** -0.1, 12);
    expect(high).toBeCloseTo(10 ** 2.1, 10);
  });

  it("ignores non-positive values on a log axis", () => {
    const [low, high] = paddedDomain([0, -3, 4], "log");
    expect(low).toBe(2);
    expect(high).toBe(8);
  });
});

describe("formatTick", () => {
  it("drops floating-point noise", () => {
    expect(formatTick(0.1 + 0.2)).toBe("0.3");
    expect(formatTick(200)).toBe("200");
  });

  it("writes tiny and huge values in exponent form", () => {
    expect(formatTick(1e-5)).toBe("1e-5");
    expect(formatTick(2.5e7)).toBe("2.5e+7");
  });
});
