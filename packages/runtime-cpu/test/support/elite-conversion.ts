// Builds an EliteKV-converted copy of a loaded model for tests, independently of the converter package:
// elite chunks from a fixed rule, and the latent from core's exact SVD of the stacked nope-key and
// value projections. With every chunk kept and a full-rank latent, the copy computes the base model.
import {
  createMatrix,
  eliteNopeDims,
  eliteRopeDims,
  eliteWeightNames,
  MapWeightStore,
  svd,
  weightNames,
  type EliteKvConfig,
  type LoadedModel,
  type Tensor,
} from "@elitekv/core";

/**
 * Returns r distinct chunk indices for a layer and KV head, in a non-ascending order that differs
 * between heads and layers, so that tests exercise the listed-order contract of the rope key rows.
 */
export function testEliteChunks(headDim: number, r: number, layer: number, kvHead: number): number[] {
  const half = headDim / 2;
  const chunks: number[] = [];
  for (let m = 0; m < r; m++) chunks.push((half - 1 - m + layer + 2 * kvHead) % half);
  return chunks;
}

/** Returns rows `rows` of a [*, columns] weight, in that order, as a new array. */
function pickRows(weight: Float32Array, columns: number, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * columns);
  rows.forEach((row, index) => out.set(weight.subarray(row * columns, (row + 1) * columns), index * columns));
  return out;
}

/**
 * Converts every layer of `model` with r elite chunks per KV head and a latent of `latentDims` values
 * (one width for all layers, or one per layer).
 */
export function convertForTest(model: LoadedModel, r: number, latentDims: number | readonly number[]): LoadedModel {
  const { config } = model;
  const { hiddenSize: d, numKvHeads, headDim, numLayers } = config;
  const nopeWidth = headDim - 2 * r;
  const tensors = new Map<string, Tensor>();
  for (const name of model.weights.names()) tensors.set(name, model.weights.get(name));

  const elite: EliteKvConfig = { ropeChunksPerHead: r, layers: [] };
  for (let layer = 0; layer < numLayers; layer++) {
    const latentDim = typeof latentDims === "number" ? latentDims : latentDims[layer];
    const wk = model.weights.get(weightNames.keyProjection(layer)).data;
    const wv = model.weights.get(weightNames.valueProjection(layer)).data;
    tensors.delete(weightNames.keyProjection(layer));
    tensors.delete(weightNames.valueProjection(layer));

    const ropeChunks: number[][] = [];
    const ropeRows: number[] = [];
    const nopeRows: number[] = [];
    for (let g = 0; g < numKvHeads; g++) {
      const chunks = testEliteChunks(headDim, r, layer, g);
      ropeChunks.push(chunks);
      for (const dim of eliteRopeDims(headDim, chunks)) ropeRows.push(g * headDim + dim);
      for (const dim of eliteNopeDims(headDim, chunks)) nopeRows.push(g * headDim + dim);
    }
    elite.layers.push({ ropeChunks, latentDim });
    tensors.set(eliteWeightNames.ropeKeyProjection(layer), { shape: [numKvHeads * 2 * r, d], data: pickRows(wk, d, ropeRows) });

    // Stack [k_nope; v] and keep its top latentDim singular directions: w_dkv = Vᵀ rows, up = U·S.
    const keyRows = numKvHeads * nopeWidth;
    const valueRows = numKvHeads * headDim;
    const stacked = createMatrix(keyRows + valueRows, d);
    stacked.data.set(pickRows(wk, d, nopeRows), 0);
    stacked.data.set(wv, keyRows * d);
    const { u, singularValues, vt } = svd(stacked);

    const down = new Float32Array(latentDim * d);
    for (let c = 0; c < latentDim; c++) for (let i = 0; i < d; i++) down[c * d + i] = vt.data[c * vt.cols + i];
    const upRows = (first: number, count: number) => {
      const out = new Float32Array(count * latentDim);
      for (let row = 0; row < count; row++) {
        for (let c = 0; c < latentDim; c++) out[row * latentDim + c] = u.data[(first + row) * u.cols + c] * singularValues[c];
      }
      return out;
    };
    tensors.set(eliteWeightNames.latentDownProjection(layer), { shape: [latentDim, d], data: down });
    tensors.set(eliteWeightNames.keyUpProjection(layer), { shape: [keyRows, latentDim], data: upRows(0, keyRows) });
    tensors.set(eliteWeightNames.valueUpProjection(layer), { shape: [valueRows, latentDim], data: upRows(keyRows, valueRows) });
  }

  return { ...model, weights: new MapWeightStore(tensors, "converted test model"), elite };
}
