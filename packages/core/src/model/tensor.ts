// Dense tensors and scalar dtype conversions. Runtime weights are float32; f16 and bf16 exist only as
// storage formats and are widened on load.

export type StorageDtype = "f32" | "f16" | "bf16";

export interface Tensor {
  /** Row-major shape, outermost first (a linear layer's weight is [outFeatures, inFeatures]). */
  shape: number[];
  data: Float32Array;
}

export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) count *= dim;
  return count;
}

export function bytesPerElement(dtype: StorageDtype): number {
  return dtype === "f32" ? 4 : 2;
}

const conversionView = new DataView(new ArrayBuffer(4));

/** Widens an IEEE 754 half-precision bit pattern to a number (subnormals, infinities and NaN included). */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Narrows a number to the nearest half-precision bit pattern (round to nearest even). */
export function f32ToF16(value: number): number {
  conversionView.setFloat32(0, value);
  const bits = conversionView.getUint32(0);
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;

  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  let halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    let halfMantissa = mantissa >> shift;
    const remainder = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (remainder > halfway || (remainder === halfway && (halfMantissa & 1) !== 0)) halfMantissa++;
    return sign | halfMantissa;
  }
  let halfMantissa = mantissa >> 13;
  const remainder = mantissa & 0x1fff;
  if (remainder > 0x1000 || (remainder === 0x1000 && (halfMantissa & 1) !== 0)) {
    halfMantissa++;
    if (halfMantissa === 0x400) {
      halfMantissa = 0;
      halfExponent++;
      if (halfExponent >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (halfExponent << 10) | halfMantissa;
}

/** Widens a bfloat16 bit pattern (the top 16 bits of a float32) to a number. */
export function bf16ToF32(bits: number): number {
  conversionView.setUint32(0, (bits & 0xffff) << 16);
  return conversionView.getFloat32(0);
}
