// Per-layer latent widths under one cache budget. With "uniform" every layer gets the same d_c. With
// "spectrum" the layers share Σ d_c = layers · d_c, split to maximise the sum over layers of the retained
// energy fraction: the kept squared singular values of the layer's joint key/value matrix over their total. The squared singular values of each layer come from the matrix the J-LRD factors: W_kv for the
// weight SVD, Lᵀ W_kv (the activation-weighted matrix) for the activation-aware SVD.
import {
  dampedCholesky,
  InvalidArgumentError,
  referenceMatmul,
  svd,
  transpose,
  type Matrix,
  type MatmulProvider,
} from "@elitekv/core";

import type { SvdMode } from "./joint-low-rank-decomposition.js";

export type LatentAllocation = "uniform" | "spectrum";

export const latentAllocations: readonly LatentAllocation[] = ["uniform", "spectrum"];

/**
 * Returns the squared singular values of the matrix the J-LRD of `jointMatrix` (D × N) factors, in
 * descending order: the eigenvalues of Mᵀ M with M = W_kv or M = Lᵀ W_kv.
 */
export async function jointEnergySpectrum(
  jointMatrix: Matrix,
  options: { svd: SvdMode; covariance?: Matrix; matmul?: MatmulProvider },
): Promise<Float64Array> {
  const matmul = options.matmul ?? referenceMatmul;
  let weighted = jointMatrix;
  if (options.svd === "activation") {
    if (options.covariance === undefined) {
      throw new InvalidArgumentError("the spectrum of the activation-aware SVD needs the covariance Xᵀ X of the attention inputs", { field: "covariance" });
    }
    const { lower } = dampedCholesky(options.covariance);
    weighted = await matmul.multiply(transpose(lower), jointMatrix);
  }

  // Mᵀ M is N × N and positive semi-definite, so its singular values are its eigenvalues, σ_i² of M.
  const gram = await matmul.multiply(transpose(weighted), weighted);
  const values = svd(gram).singularValues;
  return values.slice(0, Math.min(jointMatrix.rows, jointMatrix.cols));
}

/**
 * Splits `total` latent dims over the layers of `spectra`, each a layer's squared singular values in
 * descending order. Every layer gets at least `minPerLayer` and at most its spectrum's length. Each
 * further dim goes to the layer whose next squared singular value is the largest fraction of its total.
 * The greedy choice is optimal because every layer's gain per dim does not increase. Throws
 * InvalidArgumentError when `total` cannot be split that way.
 */
export function allocateLatentDims(spectra: readonly Float64Array[], total: number, minPerLayer = 1): number[] {
  const capacity = spectra.reduce((sum, spectrum) => sum + spectrum.length, 0);
  if (!Number.isSafeInteger(total) || total < minPerLayer * spectra.length || total > capacity) {
    throw new InvalidArgumentError(
      `cannot split ${total} latent dims over ${spectra.length} layers with ${minPerLayer} to their rank bound each (${capacity} in all)`,
      { field: "latentDim" },
    );
  }

  const totals = spectra.map((spectrum) => spectrum.reduce((sum, value) => sum + Math.max(0, value), 0));
  const dims = spectra.map((spectrum) => Math.min(minPerLayer, spectrum.length));
  const gain = (layer: number) => {
    const next = spectra[layer][dims[layer]];
    if (next === undefined) return -Infinity;
    return totals[layer] > 0 ? Math.max(0, next) / totals[layer] : 0;
  };

  let remaining = total - dims.reduce((sum, dim) => sum + dim, 0);
  while (remaining > 0) {
    let best = 0;
    for (let layer = 1; layer < spectra.length; layer++) if (gain(layer) > gain(best)) best = layer;
    dims[best]++;
    remaining--;
  }
  return dims;
}
