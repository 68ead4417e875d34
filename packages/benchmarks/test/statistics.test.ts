import { InvalidArgumentError } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { quantile, summarize } from "../src/index.js";

describe("summarize", () => {
  it("gives the middle value for an odd count", () => {
    const summary = summarize([9, 1, 5]);
    expect(summary.runs).toBe(3);
    expect(summary.median).toBe(5);
    expect(summary.min).toBe(1);
    expect(summary.max).toBe(9);
  });

  it("interpolates quartiles linearly", () => {
    // Ranks 0.25 · 3 = 0.75 and 0.75 · 3 = 2.25 of [1, 2, 3, 4]: 1 + 0.75 = 1.75 and 3 + 0.25 = 3.25.
    const summary = summarize([4, 3, 2, 1]);
    expect(summary.median).toBe(2.5);
    expect(summary.q1).toBe(1.75);
    expect(summary.q3).toBe(3.25);
    expect(summary.iqr).toBe(1.5);
  });

  it("matches hand-computed quartiles of five values", () => {
    // Ranks 1, 2 and 3 of the sorted [10, 20, 40, 80, 160] fall on order statistics exactly.
    const summary = summarize([160, 10, 80, 20, 40]);
    expect(summary.q1).toBe(20);
    expect(summary.median).toBe(40);
    expect(summary.q3).toBe(80);
    expect(summary.iqr).toBe(60);
  });

  it("collapses a single value", () => {
    expect(summarize([7])).toEqual({ runs: 1, median: 7, min: 7, max: 7, q1: 7, q3: 7, iqr: 0 });
  });

  it("leaves the input unsorted", () => {
    const values = [3, 1, 2];
    summarize(values);
    expect(values).toEqual([3, 1, 2]);
  });

  it("rejects empty and non-finite input", () => {
    expect(() => summarize([])).toThrow(InvalidArgumentError);
    expect(() => summarize([1, Number.NaN])).toThrow(/finite/);
    expect(() => summarize([1, Number.POSITIVE_INFINITY])).toThrow(/finite/);
  });
});

describe("quantile", () => {
  it("returns the ends at fractions 0 and 1", () => {
    expect(quantile([2, 4, 8], 0)).toBe(2);
    expect(quantile([2, 4, 8], 1)).toBe(8);
  });

  it("interpolates between neighbours", () => {
    // Rank 0.1 · 2 = 0.2 lies a fifth of the way from 2 to 4.
    expect(quantile([2, 4, 8], 0.1)).toBeCloseTo(2.4, 12);
  });

  it("rejects a fraction outside [0, 1]", () => {
    expect(() => quantile([1, 2], 1.5)).toThrow(InvalidArgumentError);
    expect(() => quantile([1, 2], -0.1)).toThrow(InvalidArgumentError);
  });
});
