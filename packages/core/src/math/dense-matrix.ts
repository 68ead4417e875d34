// Row-major float64 matrices for the small dense algebra of conversion (QR, Cholesky, SVD). Weights
// stay float32 elsewhere; decompositions run in float64 so that rounding does not decide a rank.
import { InvalidArgumentError } from "../errors/error-classes.js";

export interface Matrix {
  rows: number;
  cols: number;
  /** Row-major values, rows * cols long. */
  data: Float64Array;
}

export function createMatrix(rows: number, cols: number, data?: ArrayLike<number>): Matrix {
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 0 || cols < 0) {
    throw new InvalidArgumentError(`matrix shape must be non-negative integers, got ${rows}x${cols}`);
  }
  if (data !== undefined && data.length !== rows * cols) {
    throw new InvalidArgumentError(`matrix data has ${data.length} values but ${rows}x${cols} needs ${rows * cols}`);
  }
  return { rows, cols, data: data === undefined ? new Float64Array(rows * cols) : Float64Array.from(data) };
}

export function identityMatrix(size: number): Matrix {
  const matrix = createMatrix(size, size);
  for (let i = 0; i < size; i++) matrix.data[i * size + i] = 1;
  return matrix;
}

export function transpose(matrix: Matrix): Matrix {
  const result = createMatrix(matrix.cols, matrix.rows);
  for (let i = 0; i < matrix.rows; i++) {
    for (let j = 0; j < matrix.cols; j++) result.data[j * matrix.rows + i] = matrix.data[i * matrix.cols + j];
  }
  return result;
}

/** Returns a · b, accumulating in float64. */
export function multiply(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.rows) {
    throw new InvalidArgumentError(`cannot multiply ${a.rows}x${a.cols} by ${b.rows}x${b.cols}: inner sizes differ`);
  }
  const result = createMatrix(a.rows, b.cols);
  const { data: out } = result;
  for (let i = 0; i < a.rows; i++) {
    const outRow = i * b.cols;
    for (let k = 0; k < a.cols; k++) {
      const scale = a.data[i * a.cols + k];
      if (scale === 0) continue;
      const bRow = k * b.cols;
      for (let j = 0; j < b.cols; j++) out[outRow + j] += scale * b.data[bRow + j];
    }
  }
  return result;
}

/** Returns the columns start .. end - 1 of `matrix`. */
export function sliceColumns(matrix: Matrix, start: number, end: number): Matrix {
  const width = end - start;
  const result = createMatrix(matrix.rows, width);
  for (let i = 0; i < matrix.rows; i++) {
    for (let j = 0; j < width; j++) result.data[i * width + j] = matrix.data[i * matrix.cols + start + j];
  }
  return result;
}

/** Returns the Frobenius norm. */
export function frobeniusNorm(matrix: Matrix): number {
  let sum = 0;
  for (let i = 0; i < matrix.data.length; i++) sum += matrix.data[i] * matrix.data[i];
  return Math.sqrt(sum);
}

/** Returns a - b. */
export function subtract(a: Matrix, b: Matrix): Matrix {
  if (a.rows !== b.rows || a.cols !== b.cols) {
    throw new InvalidArgumentError(`cannot subtract ${b.rows}x${b.cols} from ${a.rows}x${a.cols}`);
  }
  const result = createMatrix(a.rows, a.cols);
  for (let i = 0; i < a.data.length; i++) result.data[i] = a.data[i] - b.data[i];
  return result;
}
