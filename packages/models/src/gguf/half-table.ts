// Lookup table from every IEEE 754 half-precision bit pattern to its float32 value, built once on first
// use (256 KiB), because dequantizing reads an f16 scale per block and an f16 weight per element.
import { f16ToF32 } from "@elitekv/core";

let table: Float32Array | undefined;

export function halfToFloat(): Float32Array {
  if (table === undefined) {
    table = new Float32Array(65_536);
    for (let bits = 0; bits < 65_536; bits++) table[bits] = f16ToF32(bits);
  }
  return table;
}
