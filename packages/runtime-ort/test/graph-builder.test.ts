import { f16ToF32, f32ToF16 } from "@elitekv/core";
import ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";

import { externalDataEntries, GraphBuilder } from "../src/onnx/graph-builder.js";
import { modelProto, onnxDataType } from "../src/onnx/onnx-schema.js";

interface DecodedTensor {
  name: string;
  dims: { toNumber(): number }[] | number[];
  dataType: number;
  rawData?: Uint8Array;
  dataLocation?: number;
  externalData?: { key: string; value: string }[];
}

function decode(bytes: Uint8Array): { graph: { initializer: DecodedTensor[]; node: { opType: string }[] } } {
  return modelProto.toObject(modelProto.decode(bytes), { defaults: false }) as never;
}

async function run(builder: GraphBuilder, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.ReturnType> {
  const encoded = builder.encode();
  const session = await ort.InferenceSession.create(encoded.model, {
    externalData: externalDataEntries(encoded),
  });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

describe("GraphBuilder", () => {
  it("keeps small constants inline and weights external", () => {
    const builder = new GraphBuilder("test");
    const input = builder.input("x", onnxDataType.float, ["n", 300]);
    const weight = builder.weight("w", new Float32Array(300 * 2).fill(0.5), [2, 300]);
    builder.output("y", builder.op("Reshape", [builder.op("Gemm", [input, weight], { transB: 1 }), builder.int64([-1])]), onnxDataType.float, ["m"]);

    const encoded = builder.encode();
    const initializers = decode(encoded.model).graph.initializer;

    const external = initializers.find((tensor) => tensor.name === "w")!;
    expect(external.dataLocation).toBe(1);
    expect(Object.fromEntries(external.externalData!.map((entry) => [entry.key, entry.value]))).toEqual({
      location: "weights.bin",
      offset: "0",
      length: String(300 * 2 * 4),
    });
    expect(encoded.externalData.byteLength).toBe(300 * 2 * 4);
    const inline = initializers.find((tensor) => tensor.name !== "w")!;
    expect(inline.dataLocation ?? 0).toBe(0);
    expect(inline.rawData!.byteLength).toBe(8);
  });

  it("aligns external initializers", () => {
    const builder = new GraphBuilder("test");
    builder.weight("a", new Float32Array(257), [257]);
    builder.weight("b", new Float32Array(300), [300]);

    const initializers = decode(builder.encode().model).graph.initializer;

    const offsets = initializers.map((tensor) => Number(tensor.externalData!.find((entry) => entry.key === "offset")!.value));
    expect(offsets).toEqual([0, 1088]);
  });

  it("rejects a duplicate name", () => {
    const builder = new GraphBuilder("test");
    builder.input("x", onnxDataType.float, [1]);

    expect(() => builder.weight("x", new Float32Array(1), [1])).toThrow(/already has a value named x/);
  });

  it("rejects dims that do not match the data", () => {
    expect(() => new GraphBuilder("test").weight("w", new Float32Array(5), [2, 3])).toThrow(/has 5 elements but dims \[2, 3\] hold 6/);
  });

  it("runs a graph on onnxruntime", async () => {
    const builder = new GraphBuilder("test");
    const input = builder.input("x", onnxDataType.float, ["n", 3]);
    const weight = builder.weight("w", Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    builder.output("y", builder.op("Gemm", [input, weight], { transB: 1, alpha: { float: 0.5 } }), onnxDataType.float, ["n", 2]);

    const outputs = await run(builder, { x: new ort.Tensor("float32", Float32Array.from([1, 0, -1, 2, 2, 2]), [2, 3]) });

    // 0.5 · [[1,0,-1],[2,2,2]] · [[1,4],[2,5],[3,6]].
    expect(Array.from(outputs.y.data as Float32Array)).toEqual([-1, -1, 6, 15]);
  });

  it("stores f16 weights and computes in f32", async () => {
    const values = Float32Array.from([0.1, -3.14159, 65504, 1e-5]);
    const builder = new GraphBuilder("test");
    const input = builder.input("x", onnxDataType.float, [4]);
    builder.output("y", builder.op("Mul", [input, builder.weight("w", values, [4], "f16")]), onnxDataType.float, [4]);

    const encoded = builder.encode();
    const stored = decode(encoded.model).graph.initializer.find((tensor) => tensor.name === "w/f16")!;
    expect(stored.dataType).toBe(onnxDataType.float16);
    const outputs = await run(builder, { x: new ort.Tensor("float32", new Float32Array(4).fill(1), [4]) });

    const expected = Array.from(values, (value) => f16ToF32(f32ToF16(value)));
    expect(Array.from(outputs.y.data as Float32Array)).toEqual(expected.map((value) => Math.fround(value)));
  });
});
