// Widening of stored tensor bytes (little-endian f32, f16, bf16) to the float32 runtime data.
import { f16ToF32, type StorageDtype } from "@elitekv/core";

import { hostIsLittleEndian, swapBytes32 } from "./binary-file.js";

let f16Table: Float32Array | undefined;

/** Returns the float32 value of every f16 bit pattern; built once, 256 KiB. */
function f16LookupTable(): Float32Array {
  if (f16Table === undefined) {
    f16Table = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) f16Table[bits] = f16ToF32(bits);
  }
  return f16Table;
}

/**
 * Decodes `bytes` (little-endian elements of `dtype`) into a new Float32Array. The byte length must be
 * a whole number of elements; callers check it against the shape first.
 */
export function decodeTensorBytes(bytes: Uint8Array, dtype: StorageDtype): Float32Array {
  if (dtype === "f32") {
    const values = new Float32Array(bytes.byteLength / 4);
    new Uint8Array(values.buffer).set(bytes);
    if (!hostIsLittleEndian) swapBytes32(values);
    return values;
  }

  const count = bytes.byteLength / 2;
  const values = new Float32Array(count);
  if (dtype === "f16") {
    const table = f16LookupTable();
    for (let i = 0; i < count; i++) values[i] = table[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
    return values;
  }

  // bf16 is the top half of a float32, so widening is a 16-bit shift of the bit pattern.
  const bits = new Uint32Array(values.buffer);
  for (let i = 0; i < count; i++) bits[i] = ((bytes[2 * i] | (bytes[2 * i + 1] << 8)) << 16) >>> 0;
  return values;
}
