// One layer's attention weights as float64 matrices, in the orientations the recovery products use:
// projections transposed to [in, out] so that x · wᵀ is one product, and the up projections as stored.
import {
  createMatrix,
  eliteWeightNames,
  transpose,
  weightNames,
  type Matrix,
  type Tensor,
  type WeightStore,
} from "@elitekv/core";

/** Base attention weights of one layer, each linear weight transposed to [in, out]. */
export interface BaseAttentionWeights {
  /** [hidden, numHeads · headDim]. */
  queryT: Matrix;
  /** [hidden, numKvHeads · headDim]. */
  keyT: Matrix;
  /** [hidden, numKvHeads · headDim]. */
  valueT: Matrix;
  /** [numHeads · headDim, hidden]. */
  outputT: Matrix;
}

/** Converted attention weights of one layer. */
export interface EliteAttentionWeights {
  /** [hidden, numHeads · headDim]. */
  queryT: Matrix;
  /** [hidden, numKvHeads · 2r]: per KV head its elite chunks' first dims, then their second dims. */
  ropeKeyT: Matrix;
  /** [hidden, latentDim]. */
  latentDownT: Matrix;
  /** w_uk as stored: [numKvHeads · (headDim − 2r), latentDim]. */
  keyUp: Matrix;
  /** w_uv as stored: [numKvHeads · headDim, latentDim]. */
  valueUp: Matrix;
  /** wo as stored: [hidden, numHeads · headDim]. */
  output: Matrix;
}

/** Returns a float64 copy of a 2-D tensor. */
export function tensorToMatrix(tensor: Tensor): Matrix {
  const [rows, cols] = tensor.shape;
  return createMatrix(rows, cols, tensor.data);
}

/** Returns a float32 tensor of `matrix`. */
export function matrixToTensor(matrix: Matrix): Tensor {
  return { shape: [matrix.rows, matrix.cols], data: Float32Array.from(matrix.data) };
}

export function baseAttentionWeights(weights: WeightStore, layer: number): BaseAttentionWeights {
  const read = (name: string) => transpose(tensorToMatrix(weights.get(name)));
  return {
    queryT: read(weightNames.queryProjection(layer)),
    keyT: read(weightNames.keyProjection(layer)),
    valueT: read(weightNames.valueProjection(layer)),
    outputT: read(weightNames.outputProjection(layer)),
  };
}

export function eliteAttentionWeights(weights: WeightStore, layer: number): EliteAttentionWeights {
  const read = (name: string) => tensorToMatrix(weights.get(name));
  return {
    queryT: transpose(read(weightNames.queryProjection(layer))),
    ropeKeyT: transpose(read(eliteWeightNames.ropeKeyProjection(layer))),
    latentDownT: transpose(read(eliteWeightNames.latentDownProjection(layer))),
    keyUp: read(eliteWeightNames.keyUpProjection(layer)),
    valueUp: read(eliteWeightNames.valueUpProjection(layer)),
    output: read(weightNames.outputProjection(layer)),
  };
}
