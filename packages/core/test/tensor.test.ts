import { describe, expect, it } from "vitest";

import { bf16ToF32, f16ToF32, f32ToF16 } from "../src/index.js";

describe("f16 conversion", () => {
  it("decodes known bit patterns", () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(Number.isNaN(f16ToF32(0x7e00))).toBe(true);
  });

  it("round-trips every finite half value", () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const exponent = (bits >> 10) & 0x1f;
      if (exponent === 0x1f) continue;
      const back = f32ToF16(f16ToF32(bits));
      // Negative zero is the only pattern allowed to differ in sign handling.
      if (bits === 0x8000) expect(back === 0x8000 || back === 0).toBe(true);
      else expect(back).toBe(bits);
    }
  });

  it("rounds to nearest even and overflows to infinity", () => {
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00);
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16(70000)).toBe(0x7c00);
    expect(f32ToF16(2 ** -26)).toBe(0);
  });
});

describe("bf16 conversion", () => {
  it("decodes the top half of a float32", () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc040)).toBe(-3);
    expect(bf16ToF32(0x7f80)).toBe(Infinity);
  });
});
