// Truncated SVD by randomized range finding with power iterations. Every product with the large matrix
// goes through a MatmulProvider, so a fast backend can run it. The small dense steps (QR of the sketch,
// the SVD of the projected matrix) stay in float64 TypeScript.
import { InvalidArgumentError } from "../errors/error-classes.js";
import { createRandom } from "../sampling/random.js";
import { createMatrix, multiply, transpose, type Matrix } from "./dense-matrix.js";
import { qrDecompose } from "./qr.js";
import { svd, type SvdResult } from "./svd.js";

/** Multiplies dense matrices; backends implement it to run the large products fast. */
export interface MatmulProvider {
  /** Returns a · b. */
  multiply(a: Matrix, b: Matrix): Promise<Matrix>;
}

/** The float64 TypeScript implementation, for small matrices and as a reference. */
export const referenceMatmul: MatmulProvider = {
  multiply: async (a, b) => multiply(a, b),
};

export interface RandomizedSvdOptions {
  /** Extra sketch columns beyond the rank. Defaults to 10. */
  oversampling?: number;
  /** Power iterations; each sharpens the spectrum at the cost of two products. Defaults to 2. */
  powerIterations?: number;
  seed?: number;
  matmul?: MatmulProvider;
}

/** Returns the rank-`rank` truncated SVD of `a` (u: m x rank, vt: rank x n). */
export async function randomizedSvd(a: Matrix, rank: number, options: RandomizedSvdOptions = {}): Promise<SvdResult> {
  const maxRank = Math.min(a.rows, a.cols);
  if (!Number.isSafeInteger(rank) || rank < 1 || rank > maxRank) {
    throw new InvalidArgumentError(`rank must be an integer in 1..${maxRank} for a ${a.rows}x${a.cols} matrix, got ${rank}`);
  }
  const matmul = options.matmul ?? referenceMatmul;
  const sketchWidth = Math.min(maxRank, rank + (options.oversampling ?? 10));
  const powerIterations = options.powerIterations ?? 2;

  // Sketch the range of a with a Gaussian test matrix, then sharpen it by power iterations,
  // re-orthonormalising after every product so small singular directions are not lost to rounding.
  const omega = gaussianMatrix(a.cols, sketchWidth, options.seed ?? 0);
  let basis = qrDecompose(await matmul.multiply(a, omega)).q;
  const aTransposed = transpose(a);
  for (let iteration = 0; iteration < powerIterations; iteration++) {
    const coRange = qrDecompose(await matmul.multiply(aTransposed, basis)).q;
    basis = qrDecompose(await matmul.multiply(a, coRange)).q;
  }

  // Project a onto the basis and take the exact SVD of the small matrix.
  const projected = await matmul.multiply(transpose(basis), a);
  const small = svd(projected);
  const u = multiply(basis, small.u);
  return truncate({ u, singularValues: small.singularValues, vt: small.vt }, rank);
}

function truncate(result: SvdResult, rank: number): SvdResult {
  const m = result.u.rows;
  const n = result.vt.cols;
  const k = result.u.cols;
  const u = createMatrix(m, rank);
  for (let i = 0; i < m; i++) for (let j = 0; j < rank; j++) u.data[i * rank + j] = result.u.data[i * k + j];
  const vt = createMatrix(rank, n);
  vt.data.set(result.vt.data.subarray(0, rank * n));
  return { u, singularValues: result.singularValues.slice(0, rank), vt };
}

function gaussianMatrix(rows: number, cols: number, seed: number): Matrix {
  const random = createRandom(seed);
  const matrix = createMatrix(rows, cols);
  for (let i = 0; i < matrix.data.length; i += 2) {
    // Box-Muller: two independent normals from two uniforms.
    const radius = Math.sqrt(-2 * Math.log(1 - random.next()));
    const angle = 2 * Math.PI * random.next();
    matrix.data[i] = radius * Math.cos(angle);
    if (i + 1 < matrix.data.length) matrix.data[i + 1] = radius * Math.sin(angle);
  }
  return matrix;
}
