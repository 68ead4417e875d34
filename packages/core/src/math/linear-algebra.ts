// Small dense kernels in plain TypeScript: the reference path. Heavy work belongs in a fast backend.

/**
 * Computes out[n, outFeatures] = x[n, inFeatures] · weight[outFeatures, inFeatures]ᵀ for output rows
 * rowStart .. rowEnd - 1 of the weight (all rows when omitted). Accumulates in float64.
 */
export function matmulTransposed(
  out: Float32Array,
  x: Float32Array,
  weight: Float32Array,
  n: number,
  inFeatures: number,
  outFeatures: number,
  rowStart = 0,
  rowEnd = outFeatures,
): void {
  let t = 0;
  for (; t + 1 < n; t += 2) {
    const x0 = t * inFeatures;
    const x1 = x0 + inFeatures;
    for (let o = rowStart; o < rowEnd; o++) {
      const w = o * inFeatures;
      let s00 = 0;
      let s01 = 0;
      let s10 = 0;
      let s11 = 0;
      let i = 0;
      for (; i + 1 < inFeatures; i += 2) {
        const w0 = weight[w + i];
        const w1 = weight[w + i + 1];
        s00 += x[x0 + i] * w0;
        s01 += x[x0 + i + 1] * w1;
        s10 += x[x1 + i] * w0;
        s11 += x[x1 + i + 1] * w1;
      }
      if (i < inFeatures) {
        s00 += x[x0 + i] * weight[w + i];
        s10 += x[x1 + i] * weight[w + i];
      }
      out[t * outFeatures + o] = s00 + s01;
      out[(t + 1) * outFeatures + o] = s10 + s11;
    }
  }
  for (; t < n; t++) {
    const x0 = t * inFeatures;
    for (let o = rowStart; o < rowEnd; o++) {
      const w = o * inFeatures;
      let s0 = 0;
      let s1 = 0;
      let i = 0;
      for (; i + 1 < inFeatures; i += 2) {
        s0 += x[x0 + i] * weight[w + i];
        s1 += x[x0 + i + 1] * weight[w + i + 1];
      }
      if (i < inFeatures) s0 += x[x0 + i] * weight[w + i];
      out[t * outFeatures + o] = s0 + s1;
    }
  }
}

/** Normalises each row of x[n, dim] by its root mean square and scales it by weight, into out. */
export function rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, n: number, dim: number, eps: number): void {
  for (let t = 0; t < n; t++) {
    const base = t * dim;
    let sumSquares = 0;
    for (let i = 0; i < dim; i++) sumSquares += x[base + i] * x[base + i];
    const scale = 1 / Math.sqrt(sumSquares / dim + eps);
    for (let i = 0; i < dim; i++) out[base + i] = x[base + i] * scale * weight[i];
  }
}

/** Returns log(sum(exp(row))) of logits[offset .. offset + length), computed stably in float64. */
export function logSumExp(logits: Float32Array, offset: number, length: number): number {
  let max = -Infinity;
  for (let i = 0; i < length; i++) max = Math.max(max, logits[offset + i]);
  let sum = 0;
  for (let i = 0; i < length; i++) sum += Math.exp(logits[offset + i] - max);
  return max + Math.log(sum);
}
