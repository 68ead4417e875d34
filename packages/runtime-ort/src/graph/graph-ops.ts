// Building blocks of the decoder graph on top of GraphBuilder: linear layers, RMSNorm, reshapes and the
// rotation of "half"-layout chunk pairs, each a few standard ONNX operators.
import type { GraphBuilder } from "../onnx/graph-builder.js";
import { onnxDataType } from "../onnx/onnx-schema.js";
import { quantizeBlockwise } from "../onnx/quantize-blockwise.js";

/**
 * Storage of the linear weights in the graph. "f32" and "f16" run a float32 GEMM (ORT folds f16
 * weights to float32 when the session loads); "q8" and "q4" keep block-quantized codes and run
 * MatMulNBits with int8 activations.
 */
export type WeightDtype = "f32" | "f16" | "q8" | "q4";

export const weightDtypes: readonly WeightDtype[] = ["f32", "f16", "q8", "q4"];

// Values per quantization block along K, and MatMulNBits' accuracy level 4 (int8 activations), the
// fastest of its CPU kernels.
const quantizationBlock = 32;
const int8Accuracy = 4;

export class GraphOps {
  private readonly shapes = new Map<string, string>();
  private readonly axes = new Map<string, string>();

  constructor(
    readonly graph: GraphBuilder,
    readonly weightDtype: WeightDtype,
  ) {}

  /** Storage of weights that are not linear layers (norms, the embedding table). */
  get floatStorage(): "f32" | "f16" {
    return this.weightDtype === "f16" ? "f16" : "f32";
  }

  /** x [tokens, in] times the linear weight `data` [out, in], stored as `weightDtype`. */
  project(x: string, name: string, data: Float32Array, shape: readonly number[]): string {
    const { graph } = this;
    if (this.weightDtype === "f32" || this.weightDtype === "f16") return this.linear(x, graph.weight(name, data, shape, this.weightDtype));

    const [n, k] = shape;
    const bits = this.weightDtype === "q8" ? 8 : 4;
    const quantized = quantizeBlockwise(data, n, k, bits, quantizationBlock);
    const blocksPerRow = Math.ceil(k / quantizationBlock);
    const inputs = [
      x,
      graph.raw(`${name}/codes`, quantized.codes, [n, blocksPerRow, (quantizationBlock * bits) / 8], onnxDataType.uint8),
      graph.raw(`${name}/scales`, new Uint8Array(quantized.scales.buffer), [n * blocksPerRow], onnxDataType.float),
    ];
    if (quantized.zeroPoints !== undefined) {
      inputs.push(graph.raw(`${name}/zero_points`, quantized.zeroPoints, [quantized.zeroPoints.length], onnxDataType.uint8));
    }
    const attributes = { K: k, N: n, bits, block_size: quantizationBlock, accuracy_level: int8Accuracy };
    return graph.node("MatMulNBits", inputs, attributes, 1, "com.microsoft")[0];
  }

  /** x [tokens, in] times a linear weight [out, in] → [tokens, out]. */
  linear(x: string, weight: string): string {
    return this.graph.op("Gemm", [x, weight], { transB: 1 });
  }

  /** RMSNorm over the last axis of x, scaled by `weight`. */
  rmsNorm(x: string, weight: string, epsilon: number): string {
    const { graph } = this;
    const squares = graph.op("Mul", [x, x]);
    const meanSquare = graph.op("ReduceMean", [squares, this.int64Constant([-1])], { keepdims: 1 });
    const shifted = graph.op("Add", [meanSquare, this.scalar(epsilon)]);
    const inverseRms = graph.op("Reciprocal", [graph.op("Sqrt", [shifted])]);
    return graph.op("Mul", [graph.op("Mul", [x, inverseRms]), weight]);
  }

  /** SiLU(gate) ⊙ up. */
  swiglu(gate: string, up: string): string {
    const { graph } = this;
    return graph.op("Mul", [graph.op("Mul", [gate, graph.op("Sigmoid", [gate])]), up]);
  }

  reshape(x: string, shape: readonly number[]): string {
    return this.graph.op("Reshape", [x, this.int64Constant(shape)]);
  }

  transpose(x: string, perm: readonly number[]): string {
    return this.graph.op("Transpose", [x], { perm: [...perm] });
  }

  /** x[start:end] along `axis`. */
  slice(x: string, axis: number, start: number, end: number): string {
    return this.graph.op("Slice", [x, this.int64Constant([start]), this.int64Constant([end]), this.int64Constant([axis])]);
  }

  /** x[start:end] along `axis`, with start and end given as int64 [1] values of the graph. */
  sliceDynamic(x: string, axis: number, start: string, end: string): string {
    return this.graph.op("Slice", [x, start, end, this.int64Constant([axis])]);
  }

  concat(values: readonly string[], axis: number): string {
    return values.length === 1 ? values[0] : this.graph.op("Concat", values, { axis });
  }

  /** Splits the last axis of x into two equal halves. */
  halves(x: string, width: number, rank: number): [string, string] {
    const first = this.slice(x, rank - 1, 0, width / 2);
    const second = this.slice(x, rank - 1, width / 2, width);
    return [first, second];
  }

  /**
   * Rotates chunk pairs: x = [a | b] on the last axis (a and b of equal width), returning
   * [a cos − b sin | a sin + b cos]. `cos` and `sin` broadcast against a and b.
   */
  rotateHalves(x: string, width: number, rank: number, cos: string, sin: string): string {
    const { graph } = this;
    const [a, b] = this.halves(x, width, rank);
    const rotatedA = graph.op("Sub", [graph.op("Mul", [a, cos]), graph.op("Mul", [b, sin])]);
    const rotatedB = graph.op("Add", [graph.op("Mul", [a, sin]), graph.op("Mul", [b, cos])]);
    return this.concat([rotatedA, rotatedB], rank - 1);
  }

  /** Returns a float32 scalar constant, created once per value. */
  scalar(value: number): string {
    const key = `f:${value}`;
    let name = this.shapes.get(key);
    if (name === undefined) {
      name = this.graph.float([value], [], "scalar");
      this.shapes.set(key, name);
    }
    return name;
  }

  /** Returns a 1-D int64 constant, created once per value. */
  int64Constant(values: readonly number[]): string {
    const key = values.join(",");
    let name = this.axes.get(key);
    if (name === undefined) {
      name = this.graph.int64(values, [values.length], "const");
      this.axes.set(key, name);
    }
    return name;
  }
}
