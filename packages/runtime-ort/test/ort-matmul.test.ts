import { createMatrix, multiply, randomizedSvd, svd } from "@elitekv/core";
import { maxAbsDifference } from "@elitekv/vitest-config/matchers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createOrtMatmul, type OrtMatmul } from "../src/index.js";

function randomMatrix(rows: number, cols: number, seed: number) {
  let state = seed;
  return createMatrix(rows, cols, Array.from({ length: rows * cols }, () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648 - 0.5;
  }));
}

describe("createOrtMatmul", () => {
  let matmul: OrtMatmul;

  beforeAll(async () => {
    matmul = await createOrtMatmul({ threads: 2 });
  });

  afterAll(async () => {
    await matmul.dispose();
  });

  it("matches the float64 reference", async () => {
    const a = randomMatrix(37, 53, 1);
    const b = randomMatrix(53, 29, 2);

    const product = await matmul.multiply(a, b);

    expect([product.rows, product.cols]).toEqual([37, 29]);
    expect(maxAbsDifference(product.data, multiply(a, b).data)).toBeLessThan(1e-12);
  });

  it("returns zeros for an empty inner dimension", async () => {
    const product = await matmul.multiply(createMatrix(3, 0), createMatrix(0, 2));

    expect(Array.from(product.data)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it("rejects mismatched shapes", async () => {
    await expect(matmul.multiply(createMatrix(2, 3), createMatrix(4, 2))).rejects.toThrow(/cannot multiply a 2x3 matrix by a 4x2 one/);
  });

  it("runs the randomized SVD", async () => {
    const a = randomMatrix(60, 40, 3);

    const fast = await randomizedSvd(a, 8, { matmul, seed: 5 });
    const reference = await randomizedSvd(a, 8, { seed: 5 });
    const exact = svd(a);

    expect(maxAbsDifference(fast.singularValues, reference.singularValues)).toBeLessThan(1e-10);
    // A random matrix has a flat spectrum, so the sketch recovers the top values only roughly.
    expect(Math.abs(fast.singularValues[0] - exact.singularValues[0]) / exact.singularValues[0]).toBeLessThan(0.05);
  });
});
