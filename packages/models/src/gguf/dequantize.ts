// Widening of GGUF tensor data to float32: plain types (F32, F16, BF16), the 32-element legacy quants
// (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) and the K-quants. In every 32-element legacy block the low nibbles
// hold elements 0-15 and the high nibbles elements 16-31.
import { bf16ToF32, UnsupportedTensorTypeError } from "@elitekv/core";

import {
  dequantizeQ2K,
  dequantizeQ3K,
  dequantizeQ4K,
  dequantizeQ5K,
  dequantizeQ6K,
} from "./dequantize-k-quants.js";
import { GgmlType, ggmlTypeInfo, ggmlTypeLabel } from "./ggml-type.js";
import { halfToFloat } from "./half-table.js";

/** Typed arrays use the host byte order while GGUF data is little-endian, so big-endian hosts take the DataView paths. */
const littleEndianHost = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

type BlockDequantizer = (bytes: Uint8Array, output: Float32Array, blocks: number) => void;

const dequantizers = new Map<number, BlockDequantizer>([
  [GgmlType.F32, dequantizeF32],
  [GgmlType.F16, dequantizeF16],
  [GgmlType.BF16, dequantizeBF16],
  [GgmlType.Q4_0, dequantizeQ4_0],
  [GgmlType.Q4_1, dequantizeQ4_1],
  [GgmlType.Q5_0, dequantizeQ5_0],
  [GgmlType.Q5_1, dequantizeQ5_1],
  [GgmlType.Q8_0, dequantizeQ8_0],
  [GgmlType.Q2_K, dequantizeQ2K],
  [GgmlType.Q3_K, dequantizeQ3K],
  [GgmlType.Q4_K, dequantizeQ4K],
  [GgmlType.Q5_K, dequantizeQ5K],
  [GgmlType.Q6_K, dequantizeQ6K],
]);

export function isDequantizableGgmlType(type: number): boolean {
  return dequantizers.has(type);
}

/** Returns the names of the types `dequantizeGgml` accepts, for messages. */
export function dequantizableGgmlTypeNames(): string[] {
  return [...dequantizers.keys()].map(ggmlTypeLabel);
}

/**
 * Widens `elementCount` elements of ggml `type` stored in `bytes` to float32. `where` names the file and
 * tensor for errors. Throws UnsupportedTensorTypeError for types without a dequantizer and RangeError
 * when `bytes` does not hold exactly the elements' blocks (a caller bug: loaders size reads first).
 */
export function dequantizeGgml(
  bytes: Uint8Array,
  type: number,
  elementCount: number,
  where: { file?: string; tensor: string },
): Float32Array {
  const dequantizer = dequantizers.get(type);
  const info = ggmlTypeInfo(type);
  if (dequantizer === undefined || info === undefined) {
    throw new UnsupportedTensorTypeError(
      `tensor ${where.tensor} has type ${ggmlTypeLabel(type)}, which this loader cannot dequantize ` +
        `(supported: ${dequantizableGgmlTypeNames().join(", ")}); requantize the model to one of those types`,
      { file: where.file, field: where.tensor },
    );
  }

  const blocks = elementCount / info.blockSize;
  if (!Number.isInteger(blocks) || bytes.length !== blocks * info.typeSize) {
    throw new RangeError(
      `${where.tensor}: ${bytes.length} bytes do not hold ${elementCount} ${info.name} elements ` +
        `(${info.typeSize} bytes per ${info.blockSize} elements)`,
    );
  }

  const output = new Float32Array(elementCount);
  dequantizer(bytes, output, blocks);
  return output;
}

function dequantizeF32(bytes: Uint8Array, output: Float32Array, count: number): void {
  if (littleEndianHost && bytes.byteOffset % 4 === 0) {
    output.set(new Float32Array(bytes.buffer, bytes.byteOffset, count));
    return;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count; i++) output[i] = view.getFloat32(i * 4, true);
}

function dequantizeF16(bytes: Uint8Array, output: Float32Array, count: number): void {
  const half = halfToFloat();
  for (let i = 0; i < count; i++) output[i] = half[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
}

/** bfloat16 is the top half of a float32, so widening is a shift of the bit pattern (NaN payloads kept). */
function dequantizeBF16(bytes: Uint8Array, output: Float32Array, count: number): void {
  if (!littleEndianHost) {
    for (let i = 0; i < count; i++) output[i] = bf16ToF32(bytes[2 * i] | (bytes[2 * i + 1] << 8));
    return;
  }
  const bits = new Uint32Array(output.buffer, output.byteOffset, count);
  for (let i = 0; i < count; i++) bits[i] = ((bytes[2 * i] | (bytes[2 * i + 1] << 8)) << 16) >>> 0;
}

/** Q4_0, 18 bytes: f16 d, qs[16]; value = d * (q - 8). */
function dequantizeQ4_0(bytes: Uint8Array, output: Float32Array, blocks: number): void {
  const half = halfToFloat();
  for (let block = 0; block < blocks; block++) {
    const base = block * 18;
    const d = half[bytes[base] | (bytes[base + 1] << 8)];
    const out = block * 32;
    for (let j = 0; j < 16; j++) {
      const q = bytes[base + 2 + j];
      output[out + j] = d * ((q & 0xf) - 8);
      output[out + j + 16] = d * ((q >> 4) - 8);
    }
  }
}

/** Q4_1, 20 bytes: f16 d, f16 m, qs[16]; value = d * q + m. */
function dequantizeQ4_1(bytes: Uint8Array, output: Float32Array, blocks: number): void {
  const half = halfToFloat();
  for (let block = 0; block < blocks; block++) {
    const base = block * 20;
    const d = half[bytes[base] | (bytes[base + 1] << 8)];
    const m = half[bytes[base + 2] | (bytes[base + 3] << 8)];
    const out = block * 32;
    for (let j = 0; j < 16; j++) {
      const q = bytes[base + 4 + j];
      output[out + j] = d * (q & 0xf) + m;
      output[out + j + 16] = d * (q >> 4) + m;
    }
  }
}

/** Reads the 32 fifth bits of a Q5 block, bit j belonging to element j. */
function readHighBits(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24)) >>> 0;
}

/** Q5_0, 22 bytes: f16 d, qh (u32), qs[16]; value = d * (q - 16). */
function dequantizeQ5_0(bytes: Uint8Array, output: Float32Array, blocks: number): void {
  const half = halfToFloat();
  for (let block = 0; block < blocks; block++) {
    const base = block * 22;
    const d = half[bytes[base] | (bytes[base + 1] << 8)];
    const qh = readHighBits(bytes, base + 2);
    const out = block * 32;
    for (let j = 0; j < 16; j++) {
      const q = bytes[base + 6 + j];
      const low = (q & 0xf) | (((qh >>> j) & 1) << 4);
      const high = (q >> 4) | (((qh >>> (j + 16)) & 1) << 4);
      output[out + j] = d * (low - 16);
      output[out + j + 16] = d * (high - 16);
    }
  }
}

/** Q5_1, 24 bytes: f16 d, f16 m, qh (u32), qs[16]; value = d * q + m. */
function dequantizeQ5_1(bytes: Uint8Array, output: Float32Array, blocks: number): void {
  const half = halfToFloat();
  for (let block = 0; block < blocks; block++) {
    const base = block * 24;
    const d = half[bytes[base] | (bytes[base + 1] << 8)];
    const m = half[bytes[base + 2] | (bytes[base + 3] << 8)];
    const qh = readHighBits(bytes, base + 4);
    const out = block * 32;
    for (let j = 0; j < 16; j++) {
      const q = bytes[base + 8 + j];
      const low = (q & 0xf) | (((qh >>> j) & 1) << 4);
      const high = (q >> 4) | (((qh >>> (j + 16)) & 1) << 4);
      output[out + j] = d * low + m;
      output[out + j + 16] = d * high + m;
    }
  }
}

/** Q8_0, 34 bytes: f16 d, qs[32] (int8); value = d * q. */
function dequantizeQ8_0(bytes: Uint8Array, output: Float32Array, blocks: number): void {
  const half = halfToFloat();
  for (let block = 0; block < blocks; block++) {
    const base = block * 34;
    const d = half[bytes[base] | (bytes[base + 1] << 8)];
    const out = block * 32;
    for (let j = 0; j < 32; j++) {
      output[out + j] = d * ((bytes[base + 2 + j] << 24) >> 24);
    }
  }
}
