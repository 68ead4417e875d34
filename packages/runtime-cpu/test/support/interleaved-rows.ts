// The q/k row permutation from the Hugging Face "rotate half" RoPE layout to the interleaved layout of
// llama2.c checkpoints. It is written as the reshape and transpose of llama2.c's export.py, independently
// of the library's permuteInterleavedRows.

/**
 * Reorders the rows of a [heads * headDim, columns] q or k projection from the half layout to the
 * interleaved layout. In the half layout chunk j of a head pairs rows j and j + headDim / 2, and in the
 * interleaved layout it pairs rows 2j and 2j + 1.
 *
 * This is permute_reverse of llama2.c export.py (commit d986206):
 * `w.view(heads, 2, headDim / 2, columns).transpose(1, 2).reshape(rows, columns)`.
 * That script passes n_heads for wk as well, so it supports only multi-head attention. Pass the
 * key/value head count for a key projection under grouped-query attention.
 */
export function halfToInterleavedRows(weight: Float32Array, heads: number, headDim: number, columns: number): Float32Array {
  if (headDim % 2 !== 0 || weight.length !== heads * headDim * columns) {
    throw new Error(
      `cannot permute ${weight.length} values as ${heads} heads of ${headDim} rows by ${columns} columns. ` +
        "headDim must be even and the value count must equal heads × headDim × columns",
    );
  }

  // Strides of the source viewed as [heads, 2, headDim / 2, columns].
  const half = headDim / 2;
  const headStride = headDim * columns;
  const sideStride = half * columns;
  const chunkStride = columns;

  // The transposed view is [heads, headDim / 2, 2, columns], and reading it in row-major order is the reshape.
  const output = new Float32Array(weight.length);
  let written = 0;
  for (let head = 0; head < heads; head++) {
    for (let chunk = 0; chunk < half; chunk++) {
      for (let side = 0; side < 2; side++) {
        const from = head * headStride + side * sideStride + chunk * chunkStride;
        output.set(weight.subarray(from, from + columns), written);
        written += columns;
      }
    }
  }
  return output;
}
