// Thin QR decomposition by Householder reflections: a = q · r with q (m x k) orthonormal columns and
// r (k x n) upper triangular, k = min(m, n).
import { createMatrix, type Matrix } from "./dense-matrix.js";

export interface QrResult {
  q: Matrix;
  r: Matrix;
}

export function qrDecompose(a: Matrix): QrResult {
  const m = a.rows;
  const n = a.cols;
  const k = Math.min(m, n);
  const work = Float64Array.from(a.data);
  const reflectors: Float64Array[] = [];

  // Reduce column j below the diagonal with a reflector v (stored unnormalised, with its squared norm).
  const reflectorNorms = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    const v = new Float64Array(m - j);
    let norm = 0;
    for (let i = j; i < m; i++) {
      v[i - j] = work[i * n + j];
      norm += v[i - j] * v[i - j];
    }
    norm = Math.sqrt(norm);
    const alpha = v[0] >= 0 ? -norm : norm;
    v[0] -= alpha;
    let vNormSquared = 0;
    for (let i = 0; i < v.length; i++) vNormSquared += v[i] * v[i];
    reflectors.push(v);
    reflectorNorms[j] = vNormSquared;
    if (vNormSquared === 0) continue;

    for (let col = j; col < n; col++) {
      let dot = 0;
      for (let i = j; i < m; i++) dot += v[i - j] * work[i * n + col];
      const scale = (2 * dot) / vNormSquared;
      for (let i = j; i < m; i++) work[i * n + col] -= scale * v[i - j];
    }
  }

  const r = createMatrix(k, n);
  for (let i = 0; i < k; i++) {
    for (let j = i; j < n; j++) r.data[i * n + j] = work[i * n + j];
  }

  // Form q by applying the reflectors in reverse order to the first k columns of the identity.
  const q = createMatrix(m, k);
  for (let i = 0; i < k; i++) q.data[i * k + i] = 1;
  for (let j = k - 1; j >= 0; j--) {
    const v = reflectors[j];
    const vNormSquared = reflectorNorms[j];
    if (vNormSquared === 0) continue;
    for (let col = 0; col < k; col++) {
      let dot = 0;
      for (let i = j; i < m; i++) dot += v[i - j] * q.data[i * k + col];
      const scale = (2 * dot) / vNormSquared;
      for (let i = j; i < m; i++) q.data[i * k + col] -= scale * v[i - j];
    }
  }
  return { q, r };
}
