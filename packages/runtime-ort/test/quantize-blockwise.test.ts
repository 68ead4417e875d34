import ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";

import { externalDataEntries, GraphBuilder } from "../src/onnx/graph-builder.js";
import { onnxDataType } from "../src/onnx/onnx-schema.js";
import { dequantizeBlockwise, quantizeBlockwise, type QuantizedBits } from "../src/onnx/quantize-blockwise.js";
import { GraphOps } from "../src/graph/graph-ops.js";

function weights(n: number, k: number, seed: number): Float32Array {
  return Float32Array.from({ length: n * k }, (_, i) => Math.sin(i * 0.731 + seed) * (1 + (i % 7)) * 0.05);
}

describe("quantizeBlockwise", () => {
  for (const bits of [8, 4] as QuantizedBits[]) {
    it(`rounds to within half a step (${bits} bits)`, () => {
      // K = 72 leaves a last block of 8 values after two blocks of 32.
      const weight = weights(5, 72, bits);

      const quantized = quantizeBlockwise(weight, 5, 72, bits, 32);
      const restored = dequantizeBlockwise(quantized);

      expect(quantized.codes.length).toBe(5 * 3 * ((32 * bits) / 8));
      expect(quantized.scales.length).toBe(5 * 3);
      for (let i = 0; i < weight.length; i++) {
        const scale = quantized.scales[Math.floor(i / 72) * 3 + Math.floor((i % 72) / 32)];
        // Half a step, plus the zero point's rounding in the asymmetric 4-bit code.
        const bound = bits === 8 ? scale / 2 : scale;
        expect(Math.abs(restored[i] - weight[i]), `element ${i}`).toBeLessThanOrEqual(bound * (1 + 1e-6));
      }
    });
  }

  it("keeps zero blocks exact", () => {
    const restored = dequantizeBlockwise(quantizeBlockwise(new Float32Array(64), 2, 32, 4, 32));

    expect(Array.from(restored)).toEqual(new Array(64).fill(0));
  });

  for (const dtype of ["q8", "q4"] as const) {
    it(`runs in MatMulNBits like the dequantized weight (${dtype})`, async () => {
      const n = 48;
      const k = 72;
      const weight = weights(n, k, 3);
      const graph = new GraphBuilder("test");
      const ops = new GraphOps(graph, dtype);
      const input = graph.input("x", onnxDataType.float, ["t", k]);
      graph.output("y", ops.project(input, "w", weight, [n, k]), onnxDataType.float, ["t", n]);
      const encoded = graph.encode();
      const session = await ort.InferenceSession.create(encoded.model, { externalData: externalDataEntries(encoded) });
      const x = Float32Array.from({ length: 2 * k }, (_, i) => Math.cos(i * 0.37));

      const output = (await session.run({ x: new ort.Tensor("float32", x, [2, k]) })).y.data as Float32Array;
      await session.release();

      const restored = dequantizeBlockwise(quantizeBlockwise(weight, n, k, dtype === "q8" ? 8 : 4, 32));
      let maxError = 0;
      let maxValue = 0;
      for (let t = 0; t < 2; t++) {
        for (let row = 0; row < n; row++) {
          let expected = 0;
          for (let c = 0; c < k; c++) expected += x[t * k + c] * restored[row * k + c];
          maxError = Math.max(maxError, Math.abs(output[t * n + row] - expected));
          maxValue = Math.max(maxValue, Math.abs(expected));
        }
      }
      // The int8 kernels also quantize each block of the input to 8 bits, about 1/254 of its range.
      expect(maxError / maxValue).toBeLessThan(0.02);
    });
  }
});
