// Block-wise integer quantization of linear weights in the layout of onnxruntime's MatMulNBits
// operator (com.microsoft): for a weight [N, K], each row is cut into blocks of `blockSize` values
// along K, and each block stores unsigned codes q with one float scale and one zero point z, so that
// w ≈ (q − z) · scale.
//   8 bits: symmetric, z = 128, scale = max|w| / 127.
//   4 bits: asymmetric, scale = (max − min) / 15, z = round(−min / scale), two codes per byte, low
//           nibble first.
// A last block shorter than blockSize is padded with zero codes, which ORT ignores beyond K.

import { InvalidArgumentError } from "@elitekv/core";

export type QuantizedBits = 4 | 8;

export interface BlockwiseQuantized {
  bits: QuantizedBits;
  blockSize: number;
  /** Output features (rows of the weight). */
  n: number;
  /** Input features (columns of the weight). */
  k: number;
  /** [N, blocksPerRow, blockSize · bits / 8] codes. */
  codes: Uint8Array;
  /** [N · blocksPerRow] scales. */
  scales: Float32Array;
  /** 4 bits only: [N, ceil(blocksPerRow / 2)] zero points, two per byte, low nibble first. */
  zeroPoints?: Uint8Array;
}

export function quantizeBlockwise(weight: Float32Array, n: number, k: number, bits: QuantizedBits, blockSize: number): BlockwiseQuantized {
  if (weight.length !== n * k) {
    throw new InvalidArgumentError(`the weight has ${weight.length} values, expected ${n} x ${k} = ${n * k}`, { field: "weight" });
  }
  const blocksPerRow = Math.ceil(k / blockSize);
  const blobBytes = (blockSize * bits) / 8;
  const codes = new Uint8Array(n * blocksPerRow * blobBytes);
  const scales = new Float32Array(n * blocksPerRow);
  const zeroBytesPerRow = Math.ceil(blocksPerRow / 2);
  const zeroPoints = bits === 4 ? new Uint8Array(n * zeroBytesPerRow) : undefined;

  for (let row = 0; row < n; row++) {
    for (let block = 0; block < blocksPerRow; block++) {
      const start = row * k + block * blockSize;
      const length = Math.min(blockSize, k - block * blockSize);
      const blob = (row * blocksPerRow + block) * blobBytes;

      if (bits === 8) {
        let max = 0;
        for (let i = 0; i < length; i++) max = Math.max(max, Math.abs(weight[start + i]));
        const scale = max === 0 ? 1 : max / 127;
        scales[row * blocksPerRow + block] = scale;
        for (let i = 0; i < length; i++) codes[blob + i] = clamp(Math.round(weight[start + i] / scale) + 128, 0, 255);
        continue;
      }

      let min = 0;
      let max = 0;
      for (let i = 0; i < length; i++) {
        min = Math.min(min, weight[start + i]);
        max = Math.max(max, weight[start + i]);
      }
      const scale = max === min ? 1 : (max - min) / 15;
      const zero = clamp(Math.round(-min / scale), 0, 15);
      scales[row * blocksPerRow + block] = scale;
      zeroPoints![row * zeroBytesPerRow + (block >> 1)] |= block & 1 ? zero << 4 : zero;
      for (let i = 0; i < length; i++) {
        const code = clamp(Math.round(weight[start + i] / scale) + zero, 0, 15);
        codes[blob + (i >> 1)] |= i & 1 ? code << 4 : code;
      }
    }
  }
  return { bits, blockSize, n, k, codes, scales, zeroPoints };
}

/** Rebuilds the float weight [N, K] that the codes stand for, as MatMulNBits reads them. */
export function dequantizeBlockwise(quantized: BlockwiseQuantized): Float32Array {
  const { bits, blockSize, n, k, codes, scales, zeroPoints } = quantized;
  const blocksPerRow = Math.ceil(k / blockSize);
  const blobBytes = (blockSize * bits) / 8;
  const zeroBytesPerRow = Math.ceil(blocksPerRow / 2);
  const weight = new Float32Array(n * k);
  for (let row = 0; row < n; row++) {
    for (let column = 0; column < k; column++) {
      const block = Math.floor(column / blockSize);
      const index = column % blockSize;
      const blob = (row * blocksPerRow + block) * blobBytes;
      const scale = scales[row * blocksPerRow + block];
      let code: number;
      let zero: number;
      if (bits === 8) {
        code = codes[blob + index];
        zero = 128;
      } else {
        const byte = codes[blob + (index >> 1)];
        code = index & 1 ? byte >> 4 : byte & 15;
        const zeroByte = zeroPoints![row * zeroBytesPerRow + (block >> 1)];
        zero = block & 1 ? zeroByte >> 4 : zeroByte & 15;
      }
      weight[row * k + column] = (code - zero) * scale;
    }
  }
  return weight;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
