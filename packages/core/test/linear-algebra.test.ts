import { describe, expect, it } from "vitest";

import {
  createMatrix,
  createRandom,
  dampedCholesky,
  frobeniusNorm,
  identityMatrix,
  multiply,
  qrDecompose,
  randomizedSvd,
  solveLowerTriangular,
  solveUpperTriangularTransposed,
  subtract,
  svd,
  transpose,
  type Matrix,
  type MatmulProvider,
} from "../src/index.js";

function randomMatrix(rows: number, cols: number, seed: number): Matrix {
  const random = createRandom(seed);
  return createMatrix(rows, cols, Array.from({ length: rows * cols }, () => random.next() * 2 - 1));
}

/** Returns q · diag(values) · rᵀ for random orthonormal q (m x k) and r (n x k): known singular values. */
function matrixWithSpectrum(m: number, n: number, values: number[], seed: number): Matrix {
  const k = values.length;
  const left = qrDecompose(randomMatrix(m, k, seed)).q;
  const right = qrDecompose(randomMatrix(n, k, seed + 1)).q;
  const scaled = createMatrix(m, k);
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) scaled.data[i * k + j] = left.data[i * k + j] * values[j];
  return multiply(scaled, transpose(right));
}

function diagonal(values: ArrayLike<number>): Matrix {
  const matrix = createMatrix(values.length, values.length);
  for (let i = 0; i < values.length; i++) matrix.data[i * values.length + i] = values[i];
  return matrix;
}

function orthonormalityError(columns: Matrix): number {
  return frobeniusNorm(subtract(multiply(transpose(columns), columns), identityMatrix(columns.cols)));
}

describe("qrDecompose", () => {
  for (const [rows, cols] of [
    [7, 4],
    [4, 7],
    [5, 5],
  ]) {
    it(`reconstructs a ${rows}x${cols} matrix`, () => {
      const a = randomMatrix(rows, cols, rows * 10 + cols);
      const { q, r } = qrDecompose(a);
      expect(frobeniusNorm(subtract(multiply(q, r), a))).toBeLessThan(1e-12);
      expect(orthonormalityError(q)).toBeLessThan(1e-12);
      for (let i = 0; i < r.rows; i++) for (let j = 0; j < i; j++) expect(r.data[i * r.cols + j]).toBe(0);
    });
  }
});

describe("dampedCholesky", () => {
  it("factors a positive definite matrix", () => {
    const x = randomMatrix(20, 6, 3);
    const covariance = multiply(transpose(x), x);
    const { lower, damping } = dampedCholesky(covariance, { relativeDamping: 0 });
    expect(damping).toBe(0);
    expect(frobeniusNorm(subtract(multiply(lower, transpose(lower)), covariance))).toBeLessThan(1e-12);
  });

  it("adds damping to a rank deficient covariance", () => {
    const x = randomMatrix(3, 6, 4);
    const covariance = multiply(transpose(x), x);
    const { lower, damping } = dampedCholesky(covariance, { relativeDamping: 1e-8 });
    expect(damping).toBeGreaterThan(0);
    const damped = multiply(lower, transpose(lower));
    for (let i = 0; i < 6; i++) covariance.data[i * 6 + i] += damping;
    expect(frobeniusNorm(subtract(damped, covariance))).toBeLessThan(1e-9);
  });

  it("rejects an indefinite matrix", () => {
    expect(() => dampedCholesky(diagonal([1, -5, 1]), { maxRetries: 2 })).toThrow(/not positive semi-definite/);
  });

  it("solves both triangular systems", () => {
    const x = randomMatrix(12, 5, 6);
    const { lower } = dampedCholesky(multiply(transpose(x), x));
    const b = randomMatrix(5, 3, 7);
    expect(frobeniusNorm(subtract(multiply(lower, solveLowerTriangular(lower, b)), b))).toBeLessThan(1e-10);
    expect(frobeniusNorm(subtract(multiply(transpose(lower), solveUpperTriangularTransposed(lower, b)), b))).toBeLessThan(1e-10);
  });
});

describe("svd", () => {
  it("recovers known singular values", () => {
    const values = [9, 4, 2.5, 1, 0.25];
    const result = svd(matrixWithSpectrum(8, 6, values, 11));
    for (let i = 0; i < values.length; i++) expect(result.singularValues[i]).toBeCloseTo(values[i], 12);
    expect(result.singularValues[5]).toBeLessThan(1e-12);
  });

  for (const [rows, cols] of [
    [9, 5],
    [5, 9],
  ]) {
    it(`reconstructs a ${rows}x${cols} matrix with orthonormal factors`, () => {
      const a = randomMatrix(rows, cols, rows + cols);
      const { u, singularValues, vt } = svd(a);
      const k = Math.min(rows, cols);
      expect(u.cols).toBe(k);
      expect(vt.rows).toBe(k);
      const rebuilt = multiply(multiply(u, diagonal(singularValues)), vt);
      expect(frobeniusNorm(subtract(rebuilt, a))).toBeLessThan(1e-12);
      expect(orthonormalityError(u)).toBeLessThan(1e-12);
      expect(orthonormalityError(transpose(vt))).toBeLessThan(1e-12);
      for (let i = 1; i < k; i++) expect(singularValues[i]).toBeLessThanOrEqual(singularValues[i - 1]);
    });
  }

  it("keeps u orthonormal on rank deficient input", () => {
    const { u, singularValues } = svd(matrixWithSpectrum(7, 5, [3, 1], 21));
    expect(singularValues[2]).toBeLessThan(1e-12);
    expect(orthonormalityError(u)).toBeLessThan(1e-8);
  });
});

describe("randomizedSvd", () => {
  // A decaying spectrum like a projection weight's: 64 x 48, singular values 2^(-i/4).
  const values = Array.from({ length: 48 }, (_, i) => Math.pow(2, -i / 4));
  const a = matrixWithSpectrum(64, 48, values, 31);

  it("matches the exact top singular values within 1e-6", async () => {
    const result = await randomizedSvd(a, 12, { seed: 5 });
    for (let i = 0; i < 12; i++) expect(Math.abs(result.singularValues[i] - values[i]) / values[i]).toBeLessThan(1e-6);
  });

  it("reaches the optimal rank-k error within 1%", async () => {
    const rank = 12;
    const { u, singularValues, vt } = await randomizedSvd(a, rank, { seed: 5 });
    const error = frobeniusNorm(subtract(multiply(multiply(u, diagonal(singularValues)), vt), a));
    // Eckart-Young: the best rank-k error is the norm of the discarded singular values.
    const optimal = Math.sqrt(values.slice(rank).reduce((sum, value) => sum + value * value, 0));
    expect(error).toBeLessThan(optimal * 1.01);
    expect(error).toBeGreaterThanOrEqual(optimal * (1 - 1e-9));
  });

  it("runs every large product through the matmul provider", async () => {
    let calls = 0;
    const counting: MatmulProvider = {
      multiply: async (x, y) => {
        calls++;
        return multiply(x, y);
      },
    };
    await randomizedSvd(a, 8, { seed: 1, powerIterations: 2, matmul: counting });
    // One sketch, two products per power iteration, one projection.
    expect(calls).toBe(1 + 2 * 2 + 1);
  });

  it("is deterministic for a seed", async () => {
    const first = await randomizedSvd(a, 6, { seed: 9, powerIterations: 0 });
    const second = await randomizedSvd(a, 6, { seed: 9, powerIterations: 0 });
    expect(Array.from(first.singularValues)).toEqual(Array.from(second.singularValues));
  });

  it("rejects a rank above min(m, n)", async () => {
    await expect(randomizedSvd(a, 49)).rejects.toThrow(/rank must be an integer in 1..48/);
  });
});
