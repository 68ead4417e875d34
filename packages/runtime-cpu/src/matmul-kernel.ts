// The matmul kernel shared by the main thread and the compute workers: out = input · weightᵀ for a
// range of weight rows (output features), register-blocked and accumulated in float64.

/** Rows a thread's claim should be a multiple of, so that only the last claim has a partial block. */
export const matmulRowAlignment = 8;

/**
 * Computes out[t, o] = sum_i input[t, i] * weight[o, i] for tokens t = 0 .. tokens - 1 and weight rows
 * o = rowStart .. rowEnd - 1. Offsets are element indices of row 0 in each array; rows are contiguous
 * (out has outFeatures columns). Each output sums its products in index order into one float64
 * accumulator, so its value does not depend on the blocking or on how rows are split across threads.
 */
export function matmulRowRange(
  out: Float32Array,
  outOffset: number,
  input: Float32Array,
  inputOffset: number,
  weight: Float32Array,
  weightOffset: number,
  tokens: number,
  inFeatures: number,
  outFeatures: number,
  rowStart: number,
  rowEnd: number,
): void {
  let token = 0;
  for (; token + 3 < tokens; token += 4) {
    matmulFourTokens(out, outOffset, input, inputOffset, weight, weightOffset, token, inFeatures, outFeatures, rowStart, rowEnd);
  }
  for (; token < tokens; token++) {
    matmulOneToken(out, outOffset, input, inputOffset, weight, weightOffset, token, inFeatures, outFeatures, rowStart, rowEnd);
  }
}

/** Computes tokens token .. token + 3 in blocks of 4 tokens × 4 rows: 8 loads feed 16 products. */
function matmulFourTokens(
  out: Float32Array,
  outOffset: number,
  input: Float32Array,
  inputOffset: number,
  weight: Float32Array,
  weightOffset: number,
  token: number,
  inFeatures: number,
  outFeatures: number,
  rowStart: number,
  rowEnd: number,
): void {
  const a0 = inputOffset + token * inFeatures;
  const a1 = a0 + inFeatures;
  const a2 = a1 + inFeatures;
  const a3 = a2 + inFeatures;
  const outRow = outOffset + token * outFeatures;

  let row = rowStart;
  for (; row + 3 < rowEnd; row += 4) {
    const b0 = weightOffset + row * inFeatures;
    const b1 = b0 + inFeatures;
    const b2 = b1 + inFeatures;
    const b3 = b2 + inFeatures;
    let s00 = 0, s01 = 0, s02 = 0, s03 = 0;
    let s10 = 0, s11 = 0, s12 = 0, s13 = 0;
    let s20 = 0, s21 = 0, s22 = 0, s23 = 0;
    let s30 = 0, s31 = 0, s32 = 0, s33 = 0;
    for (let i = 0; i < inFeatures; i++) {
      const w0 = weight[b0 + i];
      const w1 = weight[b1 + i];
      const w2 = weight[b2 + i];
      const w3 = weight[b3 + i];
      const x0 = input[a0 + i];
      s00 += x0 * w0; s01 += x0 * w1; s02 += x0 * w2; s03 += x0 * w3;
      const x1 = input[a1 + i];
      s10 += x1 * w0; s11 += x1 * w1; s12 += x1 * w2; s13 += x1 * w3;
      const x2 = input[a2 + i];
      s20 += x2 * w0; s21 += x2 * w1; s22 += x2 * w2; s23 += x2 * w3;
      const x3 = input[a3 + i];
      s30 += x3 * w0; s31 += x3 * w1; s32 += x3 * w2; s33 += x3 * w3;
    }
    let o = outRow + row;
    out[o] = s00; out[o + 1] = s01; out[o + 2] = s02; out[o + 3] = s03;
    o += outFeatures;
    out[o] = s10; out[o + 1] = s11; out[o + 2] = s12; out[o + 3] = s13;
    o += outFeatures;
    out[o] = s20; out[o + 1] = s21; out[o + 2] = s22; out[o + 3] = s23;
    o += outFeatures;
    out[o] = s30; out[o + 1] = s31; out[o + 2] = s32; out[o + 3] = s33;
  }

  for (; row < rowEnd; row++) {
    const b0 = weightOffset + row * inFeatures;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let i = 0; i < inFeatures; i++) {
      const w0 = weight[b0 + i];
      s0 += input[a0 + i] * w0;
      s1 += input[a1 + i] * w0;
      s2 += input[a2 + i] * w0;
      s3 += input[a3 + i] * w0;
    }
    const o = outRow + row;
    out[o] = s0;
    out[o + outFeatures] = s1;
    out[o + 2 * outFeatures] = s2;
    out[o + 3 * outFeatures] = s3;
  }
}

/** Computes one token in blocks of 8 rows. Decode takes this path, where no weight is reused across tokens. */
function matmulOneToken(
  out: Float32Array,
  outOffset: number,
  input: Float32Array,
  inputOffset: number,
  weight: Float32Array,
  weightOffset: number,
  token: number,
  inFeatures: number,
  outFeatures: number,
  rowStart: number,
  rowEnd: number,
): void {
  const a = inputOffset + token * inFeatures;
  const outRow = outOffset + token * outFeatures;

  let row = rowStart;
  for (; row + 7 < rowEnd; row += 8) {
    const b0 = weightOffset + row * inFeatures;
    const b1 = b0 + inFeatures;
    const b2 = b1 + inFeatures;
    const b3 = b2 + inFeatures;
    const b4 = b3 + inFeatures;
    const b5 = b4 + inFeatures;
    const b6 = b5 + inFeatures;
    const b7 = b6 + inFeatures;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (let i = 0; i < inFeatures; i++) {
      const x = input[a + i];
      s0 += x * weight[b0 + i];
      s1 += x * weight[b1 + i];
      s2 += x * weight[b2 + i];
      s3 += x * weight[b3 + i];
      s4 += x * weight[b4 + i];
      s5 += x * weight[b5 + i];
      s6 += x * weight[b6 + i];
      s7 += x * weight[b7 + i];
    }
    const o = outRow + row;
    out[o] = s0; out[o + 1] = s1; out[o + 2] = s2; out[o + 3] = s3;
    out[o + 4] = s4; out[o + 5] = s5; out[o + 6] = s6; out[o + 7] = s7;
  }

  for (; row < rowEnd; row++) {
    const b = weightOffset + row * inFeatures;
    let s = 0;
    for (let i = 0; i < inFeatures; i++) s += input[a + i] * weight[b + i];
    out[outRow + row] = s;
  }
}
