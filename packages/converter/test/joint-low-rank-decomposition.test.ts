import { createMatrix, createRandom, frobeniusNorm, multiply, referenceMatmul, subtract, transpose, type MatmulProvider, type Matrix } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { decomposeJointLowRank, exactSvdMaxDim } from "../src/index.js";
import { providedMatmulExactSvdMaxDim } from "../src/joint-low-rank-decomposition.js";

function randomMatrix(rows: number, cols: number, seed: number): Matrix {
  const random = createRandom(seed);
  return createMatrix(rows, cols, Array.from({ length: rows * cols }, () => random.next() - 0.5));
}

function countingMatmul(): MatmulProvider & { calls: number } {
  const provider = {
    calls: 0,
    multiply: async (a: Matrix, b: Matrix) => {
      provider.calls++;
      return referenceMatmul.multiply(a, b);
    },
  };
  return provider;
}

describe("decomposeJointLowRank", () => {
  // Both sides above exactSvdMaxDim, so the randomized SVD runs.
  const rows = exactSvdMaxDim + 40;
  const cols = exactSvdMaxDim + 8;
  const rank = 6;
  const lowRank = multiply(randomMatrix(rows, rank, 1), randomMatrix(rank, cols, 2));

  it("recovers a low-rank matrix by randomized SVD", async () => {
    const matmul = countingMatmul();

    const factors = await decomposeJointLowRank(lowRank, rank, { svd: "weight", matmul });

    expect(factors.down.rows).toBe(rows);
    expect(factors.down.cols).toBe(rank);
    expect(factors.up.rows).toBe(rank);
    expect(factors.up.cols).toBe(cols);
    expect(frobeniusNorm(subtract(lowRank, multiply(factors.down, factors.up))) / frobeniusNorm(lowRank)).toBeLessThan(1e-9);
    expect(matmul.calls).toBeGreaterThan(0);
  });

  it("takes the randomized SVD with a provider", async () => {
    // A decaying spectrum, as in real weights: singular values 1, 0.9, 0.81, ...
    const size = providedMatmulExactSvdMaxDim + 32;
    const left = randomMatrix(size + 20, size, 7);
    const right = randomMatrix(size, size, 8);
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) right.data[i * size + j] *= 0.9 ** i;
    }
    const matrix = multiply(left, right);
    const matmul = countingMatmul();

    const fast = await decomposeJointLowRank(matrix, 20, { svd: "weight", matmul });
    const exact = await decomposeJointLowRank(matrix, 20, { svd: "weight" });

    expect(matmul.calls).toBeGreaterThan(0);
    const fastResidual = frobeniusNorm(subtract(matrix, multiply(fast.down, fast.up)));
    const exactResidual = frobeniusNorm(subtract(matrix, multiply(exact.down, exact.up)));
    expect(fastResidual).toBeGreaterThanOrEqual(exactResidual * (1 - 1e-9));
    expect(fastResidual / exactResidual).toBeLessThan(1.001);
  });

  it("gives orthonormal down columns for the weight SVD", async () => {
    const factors = await decomposeJointLowRank(randomMatrix(40, 24, 3), 10, { svd: "weight" });
    const gram = multiply(transpose(factors.down), factors.down);

    for (let i = 0; i < 10; i++) {
      for (let j = 0; j < 10; j++) expect(gram.data[i * 10 + j]).toBeCloseTo(i === j ? 1 : 0, 10);
    }
  });

  it("recovers a low-rank matrix by activation SVD", async () => {
    const inputs = randomMatrix(rows + 20, rows, 4);
    const covariance = multiply(transpose(inputs), inputs);
    const matmul = countingMatmul();

    const factors = await decomposeJointLowRank(lowRank, rank, { svd: "activation", covariance, matmul });

    const target = multiply(inputs, lowRank);
    const fitted = multiply(multiply(inputs, factors.down), factors.up);
    expect(frobeniusNorm(subtract(target, fitted)) / frobeniusNorm(target)).toBeLessThan(1e-6);
    expect(factors.damping).toBeGreaterThan(0);
    expect(matmul.calls).toBeGreaterThan(0);
  });

  it("rejects activation SVD without a covariance", async () => {
    await expect(decomposeJointLowRank(randomMatrix(8, 6, 5), 2, { svd: "activation" })).rejects.toThrow(/needs the covariance/);
  });

  it("rejects a covariance of the wrong size", async () => {
    await expect(
      decomposeJointLowRank(randomMatrix(8, 6, 5), 2, { svd: "activation", covariance: createMatrix(6, 6) }),
    ).rejects.toThrow(/the covariance is 6x6 but W_kv has 8 rows/);
  });

  it("rejects latentDim above the rank bound", async () => {
    await expect(decomposeJointLowRank(randomMatrix(8, 6, 5), 7, { svd: "weight" })).rejects.toThrow(/latentDim must be an integer in 1\.\.6/);
  });
});
