// Maximum absolute differences between float arrays, with the index where the maximum occurs, and the
// throwing comparison the checks share.
import { ConformanceMismatchError, type ConformanceMismatchDetails } from "./conformance-mismatch-error.js";

export interface ArrayDifference {
  /** Largest |actual[i] − expected[i]|, or Infinity where either value is NaN or infinite. */
  maxDifference: number;
  /** Index of the largest difference, or -1 for empty arrays. */
  index: number;
}

/** Returns the largest absolute difference of two arrays of equal length, and where it occurs. */
export function maxAbsDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): ArrayDifference {
  let maxDifference = 0;
  let index = actual.length === 0 ? -1 : 0;
  for (let i = 0; i < actual.length; i++) {
    let difference = Math.abs(actual[i] - expected[i]);
    if (!Number.isFinite(difference)) difference = Infinity;
    if (difference > maxDifference) {
      maxDifference = difference;
      index = i;
      if (difference === Infinity) break;
    }
  }
  return { maxDifference, index };
}

export interface CompareOptions {
  check: ConformanceMismatchDetails["check"];
  label: string;
  /** The compared values, as the message names them ("prefill logits"). */
  description: string;
  tolerance: number;
  /** Values per row, so that a location reads "row 3, index 17". Without it the location is the flat index. */
  rowWidth?: number;
}

/**
 * Compares `actual` with `expected` and returns the max difference. Throws ConformanceMismatchError when
 * the lengths differ or the max difference exceeds the tolerance.
 */
export function compareWithin(actual: ArrayLike<number>, expected: ArrayLike<number>, options: CompareOptions): number {
  const details = { check: options.check, label: options.label, tolerance: options.tolerance };
  if (actual.length !== expected.length) {
    throw new ConformanceMismatchError(`${options.description} have ${actual.length} values, the reference has ${expected.length}`, details);
  }

  const { maxDifference, index } = maxAbsDifference(actual, expected);
  if (maxDifference > options.tolerance) {
    const location = describeIndex(index, options.rowWidth);
    throw new ConformanceMismatchError(
      `${options.description} differ by up to ${maxDifference} at ${location} (got ${actual[index]}, expected ${expected[index]}), ` +
        `above the tolerance ${options.tolerance}`,
      { ...details, maxDifference, location },
    );
  }
  return maxDifference;
}

function describeIndex(index: number, rowWidth: number | undefined): string {
  if (rowWidth === undefined || rowWidth <= 0) return `index ${index}`;
  return `row ${Math.floor(index / rowWidth)}, index ${index % rowWidth}`;
}

/** Returns row `row` of a row-major [rows, width] array, without copying. */
export function rowOf(data: Float32Array, row: number, width: number): Float32Array {
  return data.subarray(row * width, (row + 1) * width);
}
