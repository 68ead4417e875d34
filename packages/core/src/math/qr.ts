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

  // Work on columns stored contiguously (column c at c·m), so the reflector loops walk memory in order.
  const work = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let col = 0; col < n; col++) work[col * m + i] = a.data[i * n + col];
  const reflectors: Float64Array[] = [];

  // Reduce column j below the diagonal with a reflector v (stored unnormalised, with its squared norm).
  const reflectorNorms = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    const v = work.slice(j * m + j, (j + 1) * m);
    let norm = 0;
    for (let i = 0; i < v.length; i++) norm += v[i] * v[i];
    norm = Math.sqrt(norm);
    const alpha = v[0] >= 0 ? -norm : norm;
    v[0] -= alpha;
    let vNormSquared = 0;
    for (let i = 0; i < v.length; i++) vNormSquared += v[i] * v[i];
    reflectors.push(v);
    reflectorNorms[j] = vNormSquared;
    if (vNormSquared === 0) continue;

    for (let col = j; col < n; col++) reflect(work, col * m + j, v, vNormSquared);
  }

  const r = createMatrix(k, n);
  for (let i = 0; i < k; i++) {
    for (let j = i; j < n; j++) r.data[i * n + j] = work[j * m + i];
  }

  // Form q by applying the reflectors in reverse order to the first k columns of the identity.
  const columns = new Float64Array(m * k);
  for (let i = 0; i < k; i++) columns[i * m + i] = 1;
  for (let j = k - 1; j >= 0; j--) {
    if (reflectorNorms[j] === 0) continue;
    for (let col = 0; col < k; col++) reflect(columns, col * m + j, reflectors[j], reflectorNorms[j]);
  }
  const q = createMatrix(m, k);
  for (let col = 0; col < k; col++) for (let i = 0; i < m; i++) q.data[i * k + col] = columns[col * m + i];
  return { q, r };
}

/** Applies I − 2 v vᵀ / ‖v‖² to the v.length entries of `data` from `offset` on. */
function reflect(data: Float64Array, offset: number, v: Float64Array, vNormSquared: number): void {
  let dot = 0;
  for (let i = 0; i < v.length; i++) dot += v[i] * data[offset + i];
  const scale = (2 * dot) / vNormSquared;
  for (let i = 0; i < v.length; i++) data[offset + i] -= scale * v[i];
}
