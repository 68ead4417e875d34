// Cholesky factorisation of a symmetric positive semi-definite matrix, with damping for the rank
// deficient covariances that calibration activations produce.
import { InvalidArgumentError } from "../errors/error-classes.js";
import { createMatrix, type Matrix } from "./dense-matrix.js";

export interface CholeskyOptions {
  /** Damping added to the diagonal, as a fraction of the mean diagonal entry. Defaults to 1e-6. */
  relativeDamping?: number;
  /** Times the damping grows tenfold before giving up on a matrix that is not positive definite. */
  maxRetries?: number;
}

export interface CholeskyResult {
  /** Lower-triangular l with l · lᵀ = a + damping · I. */
  lower: Matrix;
  /** Absolute damping that made the factorisation succeed. */
  damping: number;
}

export function dampedCholesky(a: Matrix, options: CholeskyOptions = {}): CholeskyResult {
  if (a.rows !== a.cols) {
    throw new InvalidArgumentError(`Cholesky factorisation requires a square matrix, got ${a.rows}x${a.cols}`);
  }
  const n = a.rows;
  let meanDiagonal = 0;
  for (let i = 0; i < n; i++) meanDiagonal += a.data[i * n + i];
  meanDiagonal = n === 0 ? 0 : meanDiagonal / n;
  const base = meanDiagonal > 0 ? meanDiagonal : 1;

  let damping = (options.relativeDamping ?? 1e-6) * base;
  const maxRetries = options.maxRetries ?? 8;
  for (let attempt = 0; attempt <= maxRetries; attempt++) {
    const lower = tryCholesky(a, damping);
    if (lower !== undefined) return { lower, damping };
    damping *= 10;
  }
  throw new InvalidArgumentError(
    `matrix is not positive semi-definite even with damping ${damping / 10}; check that it is a covariance (Xᵀ X)`,
  );
}

function tryCholesky(a: Matrix, damping: number): Matrix | undefined {
  const n = a.rows;
  const lower = createMatrix(n, n);
  const l = lower.data;
  for (let j = 0; j < n; j++) {
    let diagonal = a.data[j * n + j] + damping;
    for (let k = 0; k < j; k++) diagonal -= l[j * n + k] * l[j * n + k];
    if (!(diagonal > 0)) return undefined;
    const pivot = Math.sqrt(diagonal);
    l[j * n + j] = pivot;
    for (let i = j + 1; i < n; i++) {
      let sum = a.data[i * n + j];
      for (let k = 0; k < j; k++) sum -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = sum / pivot;
    }
  }
  return lower;
}

/** Solves lower · x = b for x, with `lower` lower triangular and b a matrix of right-hand sides. */
export function solveLowerTriangular(lower: Matrix, b: Matrix): Matrix {
  const n = lower.rows;
  const x = createMatrix(n, b.cols);
  for (let col = 0; col < b.cols; col++) {
    for (let i = 0; i < n; i++) {
      let sum = b.data[i * b.cols + col];
      for (let k = 0; k < i; k++) sum -= lower.data[i * n + k] * x.data[k * b.cols + col];
      x.data[i * b.cols + col] = sum / lower.data[i * n + i];
    }
  }
  return x;
}

/** Solves lowerᵀ · x = b for x, with `lower` lower triangular. */
export function solveUpperTriangularTransposed(lower: Matrix, b: Matrix): Matrix {
  const n = lower.rows;
  const x = createMatrix(n, b.cols);
  for (let col = 0; col < b.cols; col++) {
    for (let i = n - 1; i >= 0; i--) {
      let sum = b.data[i * b.cols + col];
      for (let k = i + 1; k < n; k++) sum -= lower.data[k * n + i] * x.data[k * b.cols + col];
      x.data[i * b.cols + col] = sum / lower.data[i * n + i];
    }
  }
  return x;
}
