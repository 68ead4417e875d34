// Dequantizers for the 256-element K-quant super-blocks (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K). Element order
// and scale unpacking follow ggml's reference dequantizers (the same layout gguf-py 0.19 decodes).
// Every intermediate product is exact in float64 and the single rounding happens on the float32 store,
// which gives the same values as ggml's float32 arithmetic.
import { halfToFloat } from "./half-table.js";

const superBlock = 256;

/** Q2_K, 84 bytes: scales[16] (low nibble scale, high nibble min), qs[64] (2 bits), d, dmin. */
export function dequantizeQ2K(bytes: Uint8Array, output: Float32Array, blocks: number): void {
  const half = halfToFloat();
  for (let block = 0; block < blocks; block++) {
    const base = block * 84;
    const qs = base + 16;
    const d = half[bytes[base + 80] | (bytes[base + 81] << 8)];
    const dmin = half[bytes[base + 82] | (bytes[base + 83] << 8)];
    const out = block * superBlock;

    // Element i = 128 * h + 32 * s + j takes bits 2s..2s+1 of qs[32h + j], and sub-block i / 16 sets its scale.
    for (let i = 0; i < superBlock; i++) {
      const h = i >> 7;
      const shift = ((i >> 5) & 3) * 2;
      const q = (bytes[qs + h * 32 + (i & 31)] >> shift) & 3;
      const scale = bytes[base + (i >> 4)];
      output[out + i] = d * (scale & 0xf) * q - dmin * (scale >> 4);
    }
  }
}

/** Q3_K, 110 bytes: hmask[32], qs[64] (low 2 bits), scales[12] (16 six-bit scales), d. */
export function dequantizeQ3K(bytes: Uint8Array, output: Float32Array, blocks: number): void {
  const half = halfToFloat();
  const scales = new Int32Array(16);
  for (let block = 0; block < blocks; block++) {
    const base = block * 110;
    const hmask = base;
    const qs = base + 32;
    const packed = base + 96;
    const d = half[bytes[base + 108] | (bytes[base + 109] << 8)];
    const out = block * superBlock;

    // Scale k takes its low 4 bits from byte k (k < 8) or the high nibble of byte k - 8, and its high
    // 2 bits from bits 2 * (k / 4) of byte 8 + k % 4. Scales are stored with an offset of 32.
    for (let k = 0; k < 16; k++) {
      const low = k < 8 ? bytes[packed + k] & 0xf : bytes[packed + k - 8] >> 4;
      const high = (bytes[packed + 8 + (k & 3)] >> (2 * (k >> 2))) & 3;
      scales[k] = (low | (high << 4)) - 32;
    }

    // A set hmask bit means "no offset", and a clear one subtracts 4 from the 2-bit value.
    for (let i = 0; i < superBlock; i++) {
      const h = i >> 7;
      const shift = ((i >> 5) & 3) * 2;
      const low = (bytes[qs + h * 32 + (i & 31)] >> shift) & 3;
      const highBit = (bytes[hmask + (i & 31)] >> (i >> 5)) & 1;
      const q = low - (highBit === 1 ? 0 : 4);
      output[out + i] = d * scales[i >> 4] * q;
    }
  }
}

/**
 * Unpacks the 12 scale bytes shared by Q4_K and Q5_K into 8 six-bit scales and mins. Sub-blocks 0-3
 * use the low 6 bits of bytes 0-3 (scales) and 4-7 (mins). Sub-blocks 4-7 take their low 4 bits from
 * bytes 8-11 and their high 2 bits from the top 2 bits of bytes 0-3 (scales) and 4-7 (mins).
 */
export function unpackScaleMinK4(bytes: Uint8Array, offset: number, scales: Uint8Array, mins: Uint8Array): void {
  for (let j = 0; j < 4; j++) {
    scales[j] = bytes[offset + j] & 63;
    mins[j] = bytes[offset + j + 4] & 63;
    scales[j + 4] = (bytes[offset + j + 8] & 0xf) | ((bytes[offset + j] >> 6) << 4);
    mins[j + 4] = (bytes[offset + j + 8] >> 4) | ((bytes[offset + j + 4] >> 6) << 4);
  }
}

/** Q4_K, 144 bytes: d, dmin, scales[12], qs[128]. Sub-block 2c takes the low nibbles of qs[32c..32c+31], 2c+1 the high ones. */
export function dequantizeQ4K(bytes: Uint8Array, output: Float32Array, blocks: number): void {
  const half = halfToFloat();
  const scales = new Uint8Array(8);
  const mins = new Uint8Array(8);
  for (let block = 0; block < blocks; block++) {
    const base = block * 144;
    const d = half[bytes[base] | (bytes[base + 1] << 8)];
    const dmin = half[bytes[base + 2] | (bytes[base + 3] << 8)];
    unpackScaleMinK4(bytes, base + 4, scales, mins);
    const qs = base + 16;
    const out = block * superBlock;

    for (let subBlock = 0; subBlock < 8; subBlock++) {
      const scale = d * scales[subBlock];
      const min = dmin * mins[subBlock];
      const source = qs + (subBlock >> 1) * 32;
      const shift = (subBlock & 1) * 4;
      for (let j = 0; j < 32; j++) {
        const q = (bytes[source + j] >> shift) & 0xf;
        output[out + subBlock * 32 + j] = scale * q - min;
      }
    }
  }
}

/** Q5_K, 176 bytes: d, dmin, scales[12], qh[32] (bit s of qh[j] is the fifth bit of sub-block s), qs[128]. */
export function dequantizeQ5K(bytes: Uint8Array, output: Float32Array, blocks: number): void {
  const half = halfToFloat();
  const scales = new Uint8Array(8);
  const mins = new Uint8Array(8);
  for (let block = 0; block < blocks; block++) {
    const base = block * 176;
    const d = half[bytes[base] | (bytes[base + 1] << 8)];
    const dmin = half[bytes[base + 2] | (bytes[base + 3] << 8)];
    unpackScaleMinK4(bytes, base + 4, scales, mins);
    const qh = base + 16;
    const qs = base + 48;
    const out = block * superBlock;

    for (let subBlock = 0; subBlock < 8; subBlock++) {
      const scale = d * scales[subBlock];
      const min = dmin * mins[subBlock];
      const source = qs + (subBlock >> 1) * 32;
      const shift = (subBlock & 1) * 4;
      for (let j = 0; j < 32; j++) {
        const q = ((bytes[source + j] >> shift) & 0xf) | (((bytes[qh + j] >> subBlock) & 1) << 4);
        output[out + subBlock * 32 + j] = scale * q - min;
      }
    }
  }
}

/** Q6_K, 210 bytes: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d. */
export function dequantizeQ6K(bytes: Uint8Array, output: Float32Array, blocks: number): void {
  const half = halfToFloat();
  for (let block = 0; block < blocks; block++) {
    const base = block * 210;
    const ql = base;
    const qh = base + 128;
    const scales = base + 192;
    const d = half[bytes[base + 208] | (bytes[base + 209] << 8)];
    const out = block * superBlock;

    // Element i = 128 * h + r: low bits from nibble r / 64 of ql[64h + r % 64], high bits from bits
    // 2 * ((r / 32) % 4) of qh[32h + r % 32]. Values carry an offset of 32.
    for (let i = 0; i < superBlock; i++) {
      const h = i >> 7;
      const r = i & 127;
      const low = (bytes[ql + h * 64 + (r & 63)] >> ((r >> 6) * 4)) & 0xf;
      const high = (bytes[qh + h * 32 + (r & 31)] >> (((r >> 5) & 3) * 2)) & 3;
      const q = (low | (high << 4)) - 32;
      const scale = (bytes[scales + (i >> 4)] << 24) >> 24;
      output[out + i] = d * scale * q;
    }
  }
}
