// A MatmulProvider on onnxruntime: float64 products for the randomized SVD and the covariance products
// of the conversion, run by ORT's multithreaded GEMM instead of a TypeScript loop.
import { availableParallelism } from "node:os";

import { createMatrix, InvalidArgumentError, type Matrix, type MatmulProvider } from "@elitekv/core";
import ort from "onnxruntime-node";

import { externalDataEntries, GraphBuilder } from "./onnx/graph-builder.js";
import { onnxDataType } from "./onnx/onnx-schema.js";

export interface OrtMatmul extends MatmulProvider {
  /** Releases the ORT session. */
  dispose(): Promise<void>;
}

export interface OrtMatmulOptions {
  /** Intra-op threads; defaults to the number of CPUs. */
  threads?: number;
}

/** Creates a provider whose multiply(a, b) runs one ORT MatMul in float64. */
export async function createOrtMatmul(options: OrtMatmulOptions = {}): Promise<OrtMatmul> {
  const threads = options.threads ?? availableParallelism();
  if (!Number.isSafeInteger(threads) || threads < 1) {
    throw new InvalidArgumentError(`threads must be a positive integer, got ${String(threads)}`, { field: "threads" });
  }

  const graph = new GraphBuilder("elitekv-matmul");
  const a = graph.input("a", onnxDataType.double, ["m", "k"]);
  const b = graph.input("b", onnxDataType.double, ["k", "n"]);
  graph.output("c", graph.op("MatMul", [a, b]), onnxDataType.double, ["m", "n"]);
  const encoded = graph.encode();
  const session = await ort.InferenceSession.create(encoded.model, {
    externalData: externalDataEntries(encoded),
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  });

  let queue: Promise<unknown> = Promise.resolve();
  return {
    async multiply(left: Matrix, right: Matrix): Promise<Matrix> {
      if (left.cols !== right.rows) {
        throw new InvalidArgumentError(`cannot multiply a ${left.rows}x${left.cols} matrix by a ${right.rows}x${right.cols} one`, {
          field: "b",
        });
      }
      // An empty product is all zeros, and ORT need not see zero-sized inputs.
      if (left.rows === 0 || right.cols === 0 || left.cols === 0) return createMatrix(left.rows, right.cols);

      const run = queue.then(async () => {
        const outputs = await session.run({
          a: new ort.Tensor("float64", left.data, [left.rows, left.cols]),
          b: new ort.Tensor("float64", right.data, [right.rows, right.cols]),
        });
        return createMatrix(left.rows, right.cols, outputs.c.data as Float64Array);
      });
      queue = run.catch(() => undefined);
      return run;
    },

    async dispose(): Promise<void> {
      await queue;
      await session.release();
    },
  };
}
