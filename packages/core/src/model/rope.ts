// RoPE frequencies (with linear and llama3 scaling) and rotation in the "half" chunk layout: chunk j
// of a head is the dim pair (j, j + h/2) and rotates by angle position * theta_j.
import type { ModelConfig, RopeConfig } from "./model-config.js";

/**
 * Returns the inverse frequencies theta_j, j = 0 .. rotaryDim/2 - 1, in float64, with the model's
 * scaling applied. Phases must be built from these in float64 (or float32 at least), never in f16/bf16.
 */
export function ropeInverseFrequencies(rope: RopeConfig): Float64Array {
  const chunks = rope.rotaryDim / 2;
  const frequencies = new Float64Array(chunks);
  for (let j = 0; j < chunks; j++) {
    frequencies[j] = Math.pow(rope.theta, (-2 * j) / rope.rotaryDim);
  }

  const scaling = rope.scaling;
  if (scaling.type === "linear") {
    for (let j = 0; j < chunks; j++) frequencies[j] /= scaling.factor;
  } else if (scaling.type === "llama3") {
    // Wavelengths shorter than original/highFreqFactor keep their frequency, longer than
    // original/lowFreqFactor are divided by factor, and the band between is interpolated smoothly.
    const lowFreqWavelength = scaling.originalMaxPositionEmbeddings / scaling.lowFreqFactor;
    const highFreqWavelength = scaling.originalMaxPositionEmbeddings / scaling.highFreqFactor;
    for (let j = 0; j < chunks; j++) {
      const frequency = frequencies[j];
      const wavelength = (2 * Math.PI) / frequency;
      if (wavelength < highFreqWavelength) continue;
      if (wavelength > lowFreqWavelength) {
        frequencies[j] = frequency / scaling.factor;
        continue;
      }
      const smooth =
        (scaling.originalMaxPositionEmbeddings / wavelength - scaling.lowFreqFactor) /
        (scaling.highFreqFactor - scaling.lowFreqFactor);
      frequencies[j] = (1 - smooth) * (frequency / scaling.factor) + smooth * frequency;
    }
  }
  return frequencies;
}

/** Precomputed cos/sin of position * theta_j for positions 0 .. maxPositions - 1, row-major [position, chunk]. */
export interface RopeTable {
  chunks: number;
  maxPositions: number;
  cos: Float64Array;
  sin: Float64Array;
}

export function buildRopeTable(config: ModelConfig, maxPositions: number): RopeTable {
  const frequencies = ropeInverseFrequencies(config.rope);
  const chunks = frequencies.length;
  const cos = new Float64Array(maxPositions * chunks);
  const sin = new Float64Array(maxPositions * chunks);
  for (let position = 0; position < maxPositions; position++) {
    for (let j = 0; j < chunks; j++) {
      const angle = position * frequencies[j];
      cos[position * chunks + j] = Math.cos(angle);
      sin[position * chunks + j] = Math.sin(angle);
    }
  }
  return { chunks, maxPositions, cos, sin };
}

/**
 * Rotates one head vector in place, in the "half" layout, at `position`. `offset` is the index of the
 * head's first dim in `vector`. Only the chunks whose `keep` entry is true rotate when `keep` is given.
 */
export function applyRope(
  vector: Float32Array | Float64Array,
  offset: number,
  headDim: number,
  position: number,
  table: RopeTable,
  keep?: ArrayLike<boolean>,
): void {
  const half = headDim / 2;
  const row = position * table.chunks;
  for (let j = 0; j < half; j++) {
    if (keep !== undefined && !keep[j]) continue;
    const c = table.cos[row + j];
    const s = table.sin[row + j];
    const a = vector[offset + j];
    const b = vector[offset + j + half];
    vector[offset + j] = a * c - b * s;
    vector[offset + j + half] = a * s + b * c;
  }
}

/**
 * Returns the row permutation that turns one head's q or k projection rows from the interleaved layout
 * into the half layout: half-layout row r takes interleaved row permutation[r].
 */
export function interleavedToHalfPermutation(headDim: number): Int32Array {
  const half = headDim / 2;
  const permutation = new Int32Array(headDim);
  for (let j = 0; j < half; j++) {
    permutation[j] = 2 * j;
    permutation[j + half] = 2 * j + 1;
  }
  return permutation;
}

/**
 * Reorders the rows of a [heads * headDim, columns] projection from the interleaved to the half layout,
 * head by head. Returns a new array.
 */
export function permuteInterleavedRows(
  weight: Float32Array,
  heads: number,
  headDim: number,
  columns: number,
): Float32Array {
  const permutation = interleavedToHalfPermutation(headDim);
  const output = new Float32Array(weight.length);
  for (let head = 0; head < heads; head++) {
    const base = head * headDim;
    for (let r = 0; r < headDim; r++) {
      const from = (base + permutation[r]) * columns;
      output.set(weight.subarray(from, from + columns), (base + r) * columns);
    }
  }
  return output;
}
