// AdamOptimizer against Adam's update written out by hand, and its input checks.
import { InvalidArgumentError } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { AdamOptimizer } from "../src/index.js";

describe("AdamOptimizer", () => {
  it("matches the bias-corrected update", () => {
    const values = Float32Array.from([1, -2, 0.5]);
    const optimizer = new AdamOptimizer([values], 0.1);
    const gradients = [Float32Array.from([0.4, -3, 0]), Float32Array.from([-0.2, 1, 2])];

    // Reference Adam in float64 with beta1 0.9, beta2 0.999, epsilon 1e-8, gradient scale 0.5.
    const expected = [1, -2, 0.5];
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    gradients.forEach((gradient, index) => {
      const step = index + 1;
      optimizer.step([gradient], 0.5);
      for (let i = 0; i < 3; i++) {
        const g = gradient[i] * 0.5;
        m[i] = 0.9 * m[i] + 0.1 * g;
        v[i] = 0.999 * v[i] + 0.001 * g * g;
        expected[i] -= (0.1 * (m[i] / (1 - 0.9 ** step))) / (Math.sqrt(v[i] / (1 - 0.999 ** step)) + 1e-8);
      }
    });

    for (let i = 0; i < 3; i++) expect(values[i]).toBeCloseTo(expected[i], 6);
  });

  it("moves by the learning rate on the first step", () => {
    const values = Float32Array.from([1, -2, 0.5]);
    new AdamOptimizer([values], 0.01).step([Float32Array.from([3, -0.001, 0])]);

    expect(values[0]).toBeCloseTo(0.99, 6);
    expect(values[1]).toBeCloseTo(-1.99, 6);
    expect(values[2]).toBe(0.5);
  });

  it("rejects a learning rate that is not positive", () => {
    expect(() => new AdamOptimizer([new Float32Array(2)], 0)).toThrow(InvalidArgumentError);
    expect(() => new AdamOptimizer([new Float32Array(2)], Number.NaN)).toThrow(/the learning rate must be a positive number, got NaN/);
  });

  it("rejects gradients of another shape", () => {
    const optimizer = new AdamOptimizer([new Float32Array(2), new Float32Array(3)], 0.01);

    expect(() => optimizer.step([new Float32Array(2)])).toThrow(/expected 2 gradient arrays, got 1/);
    expect(() => optimizer.step([new Float32Array(2), new Float32Array(4)])).toThrow(/gradient 1 has 4 values but its parameter has 3/);
  });
});
