import { applyRope, buildRopeTable, InvalidArgumentError } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { computeChunkTerms } from "../src/index.js";
import { randomArray, syntheticConfig } from "./synthetic-capture.js";

describe("computeChunkTerms", () => {
  const config = syntheticConfig(2, 1, 8);
  const length = 40;
  const query = randomArray(length * 2 * 8, 11);
  const key = randomArray(length * 8, 12);
  const table = buildRopeTable(config, length);
  const pairs = Int32Array.from([0, 0, 5, 2, 39, 0, 39, 38, 17, 17, 30, 4]);
  const terms = computeChunkTerms({ config, query: [query], key: [key], pairs: [pairs] }, 0);

  // The rotated dot product from applyRope is the ground truth of the relative-rotation formula, so this
  // pins the sign of the sine term.
  it("sums to the rotated logit from applyRope", () => {
    for (let g = 0; g < 2; g++) {
      for (let p = 0; p < pairs.length / 2; p++) {
        const t = pairs[2 * p];
        const s = pairs[2 * p + 1];
        const q = Float64Array.from(query.subarray((t * 2 + g) * 8, (t * 2 + g + 1) * 8));
        const k = Float64Array.from(key.subarray(s * 8, (s + 1) * 8));
        const plain = dotProduct(q, k) / Math.sqrt(8);
        applyRope(q, 0, 8, t, table);
        applyRope(k, 0, 8, s, table);
        const rotated = dotProduct(q, k) / Math.sqrt(8);

        const row = terms.contribution[g].subarray(p * 4, (p + 1) * 4);
        const errors = terms.error[g].subarray(p * 4, (p + 1) * 4);
        expect(sum(row)).toBeCloseTo(rotated, 12);
        expect(sum(errors)).toBeCloseTo(rotated - plain, 12);
      }
    }
  });

  it("gives zero error on the diagonal", () => {
    // Pair 4 is (17, 17): no relative rotation, so dropping RoPE changes nothing.
    // Math.abs folds -0 into 0, which toEqual would tell apart.
    expect(Array.from(terms.error[0].subarray(16, 20), Math.abs)).toEqual([0, 0, 0, 0]);
    expect(Array.from(terms.error[1].subarray(16, 20), Math.abs)).toEqual([0, 0, 0, 0]);
  });

  it("has the documented shape", () => {
    expect(terms.queryHeads).toBe(2);
    expect(terms.pairs).toBe(6);
    expect(terms.chunks).toBe(4);
    expect(terms.error[0]).toHaveLength(24);
  });

  it("rejects a non-causal pair", () => {
    const inputs = { config, query: [query], key: [key], pairs: [Int32Array.from([3, 4])] };
    expect(() => computeChunkTerms(inputs, 0)).toThrow(InvalidArgumentError);
    expect(() => computeChunkTerms(inputs, 0)).toThrow(/pair \(t = 3, s = 4\) of window 0 is not causal/);
  });

  it("rejects a KV head out of range", () => {
    expect(() => computeChunkTerms({ config, query: [query], key: [key], pairs: [pairs] }, 1)).toThrow(
      /kvHead 1 is not an integer in \[0, 1\)/,
    );
  });
});

function dotProduct(a: Float64Array, b: Float64Array): number {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += a[i] * b[i];
  return total;
}

function sum(values: Float64Array): number {
  return values.reduce((total, value) => total + value, 0);
}
