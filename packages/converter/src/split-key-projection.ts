// The q/k split of one layer. The key rows of the elite chunks keep RoPE and are stored as they are.
// The other key rows (the nope dims) and all value rows form the joint matrix W_kv that J-LRD factors.
// The query projection needs no change, because a query dim meets the same key dim with or without RoPE.
import {
  createMatrix,
  eliteNopeDims,
  eliteRopeDims,
  InvalidArgumentError,
  type Matrix,
  type ModelConfig,
  type Tensor,
} from "@elitekv/core";

/**
 * Column layout of W_kv. Columns 0 .. keyColumns − 1 are the nope key dims, KV head by KV head, with
 * each head's dims ascending. The next G·h columns are the value dims, KV head by KV head.
 */
export interface JointKeyValueMatrix {
  /** D × (keyColumns + G·h), float64. */
  matrix: Matrix;
  /** G·(h − 2r). */
  keyColumns: number;
}

/** Returns the rope key rows [G·2r, D]: per KV head the rows of `eliteRopeDims(h, chunks)` in that order. */
export function ropeKeyRows(config: ModelConfig, key: Tensor, chunks: readonly (readonly number[])[]): Tensor {
  checkProjection(config, key, "key");
  const hidden = config.hiddenSize;
  const rows = chunks.flatMap((headChunks, head) => eliteRopeDims(config.headDim, headChunks).map((dim) => head * config.headDim + dim));

  const data = new Float32Array(rows.length * hidden);
  rows.forEach((row, index) => data.set(key.data.subarray(row * hidden, (row + 1) * hidden), index * hidden));
  return { shape: [rows.length, hidden], data };
}

/** Builds W_kv = [W_k_nope | W_v] from the key and value projections [G·h, D]. */
export function jointKeyValueMatrix(
  config: ModelConfig,
  key: Tensor,
  value: Tensor,
  chunks: readonly (readonly number[])[],
): JointKeyValueMatrix {
  checkProjection(config, key, "key");
  checkProjection(config, value, "value");
  const hidden = config.hiddenSize;
  const headDim = config.headDim;

  const keyRows = chunks.flatMap((headChunks, head) => eliteNopeDims(headDim, headChunks).map((dim) => head * headDim + dim));
  const valueRowCount = config.numKvHeads * headDim;
  const columns = keyRows.length + valueRowCount;
  const matrix = createMatrix(hidden, columns);

  // Column c of W_kv is row c of the stacked projection, because linear weights are stored [out, in].
  const copyRow = (source: Float32Array, row: number, column: number) => {
    for (let i = 0; i < hidden; i++) matrix.data[i * columns + column] = source[row * hidden + i];
  };
  keyRows.forEach((row, column) => copyRow(key.data, row, column));
  for (let row = 0; row < valueRowCount; row++) copyRow(value.data, row, keyRows.length + row);

  return { matrix, keyColumns: keyRows.length };
}

function checkProjection(config: ModelConfig, tensor: Tensor, role: string): void {
  const rows = config.numKvHeads * config.headDim;
  if (tensor.shape.length !== 2 || tensor.shape[0] !== rows || tensor.shape[1] !== config.hiddenSize) {
    throw new InvalidArgumentError(
      `the ${role} projection has shape [${tensor.shape.join(", ")}] but the config needs [${rows}, ${config.hiddenSize}]`,
      { field: `${role} projection` },
    );
  }
}
