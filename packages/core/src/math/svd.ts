// Exact thin SVD by one-sided Jacobi rotations: accurate to float64 rounding, and fast enough for the
// small matrices of a randomized SVD's last step or a tiny model's layers.
import { createMatrix, transpose, type Matrix } from "./dense-matrix.js";

export interface SvdResult {
  /** m x k, orthonormal columns. */
  u: Matrix;
  /** k singular values, descending. */
  singularValues: Float64Array;
  /** k x n, orthonormal rows (Vᵀ). */
  vt: Matrix;
}

export interface JacobiOptions {
  /** Stop when every pair of columns has |cos angle| below this. Defaults to 1e-13. */
  tolerance?: number;
  maxSweeps?: number;
}

/** Returns the thin SVD a = u · diag(s) · vt with k = min(m, n). */
export function svd(a: Matrix, options: JacobiOptions = {}): SvdResult {
  if (a.rows < a.cols) {
    const flipped = svd(transpose(a), options);
    return { u: transpose(flipped.vt), singularValues: flipped.singularValues, vt: transpose(flipped.u) };
  }
  const m = a.rows;
  const n = a.cols;
  const tolerance = options.tolerance ?? 1e-13;
  const maxSweeps = options.maxSweeps ?? 60;

  // Work column-major: columns of a are orthogonalised in place while v accumulates the rotations.
  const columns = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) columns[j * m + i] = a.data[i * n + j];
  const v = new Float64Array(n * n);
  for (let j = 0; j < n; j++) v[j * n + j] = 1;

  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        const pBase = p * m;
        const qBase = q * m;
        for (let i = 0; i < m; i++) {
          const x = columns[pBase + i];
          const y = columns[qBase + i];
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma === 0 || Math.abs(gamma) <= tolerance * Math.sqrt(alpha * beta)) continue;
        rotated = true;

        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < m; i++) {
          const x = columns[pBase + i];
          const y = columns[qBase + i];
          columns[pBase + i] = c * x - s * y;
          columns[qBase + i] = s * x + c * y;
        }
        for (let i = 0; i < n; i++) {
          const x = v[p * n + i];
          const y = v[q * n + i];
          v[p * n + i] = c * x - s * y;
          v[q * n + i] = s * x + c * y;
        }
      }
    }
    if (!rotated) break;
  }

  // Singular values are the column norms; sort them descending with their vectors.
  const norms = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let sum = 0;
    for (let i = 0; i < m; i++) sum += columns[j * m + i] * columns[j * m + i];
    norms[j] = Math.sqrt(sum);
  }
  const order = Array.from({ length: n }, (_, j) => j).sort((x, y) => norms[y] - norms[x] || x - y);

  const u = createMatrix(m, n);
  const vt = createMatrix(n, n);
  const singularValues = new Float64Array(n);
  for (let rank = 0; rank < n; rank++) {
    const j = order[rank];
    const sigma = norms[j];
    singularValues[rank] = sigma;
    for (let i = 0; i < m; i++) u.data[i * n + rank] = sigma > 0 ? columns[j * m + i] / sigma : 0;
    for (let i = 0; i < n; i++) vt.data[rank * n + i] = v[j * n + i];
  }
  completeNullColumns(u, singularValues);
  return { u, singularValues, vt };
}

/**
 * Replaces the columns of u that belong to zero singular values with orthonormal vectors, so that u
 * keeps orthonormal columns on rank-deficient input (Gram-Schmidt against the unit basis).
 */
function completeNullColumns(u: Matrix, singularValues: Float64Array): void {
  const m = u.rows;
  const k = u.cols;
  let candidate = 0;
  for (let col = 0; col < k; col++) {
    if (singularValues[col] > 0) continue;
    while (candidate < m) {
      const vector = new Float64Array(m);
      vector[candidate++] = 1;
      for (let other = 0; other < k; other++) {
        if (other === col || (singularValues[other] === 0 && other > col)) continue;
        let dot = 0;
        for (let i = 0; i < m; i++) dot += vector[i] * u.data[i * k + other];
        for (let i = 0; i < m; i++) vector[i] -= dot * u.data[i * k + other];
      }
      let norm = 0;
      for (let i = 0; i < m; i++) norm += vector[i] * vector[i];
      norm = Math.sqrt(norm);
      if (norm < 1e-8) continue;
      for (let i = 0; i < m; i++) u.data[i * k + col] = vector[i] / norm;
      break;
    }
  }
}
