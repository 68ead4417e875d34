// The attention block of a base layer over the full KV cache: q, k and v projections, RoPE on every
// chunk, and per KV head the scores against the cached keys and the keys of this run.
import { weightNames } from "@elitekv/core";

import { attendOverPastAndNew, maskNewScores, type AttentionContext } from "./attention-context.js";
import { graphDims, graphInputs, graphOutputs } from "./graph-names.js";
import { onnxDataType } from "../onnx/onnx-schema.js";

export function buildFullAttention(context: AttentionContext, layer: number, input: string): string {
  const { ops, config, weights } = context;
  const { graph } = ops;
  const { numHeads, numKvHeads, headDim } = config;
  const groupSize = numHeads / numKvHeads;
  const project = (x: string, name: string) => {
    const tensor = weights.get(name);
    return ops.project(x, name, tensor.data, tensor.shape);
  };

  // Step 1: projections, in the "half" layout before rotation.
  const query = ops.reshape(project(input, weightNames.queryProjection(layer)), [0, numHeads, headDim]);
  const key = ops.reshape(project(input, weightNames.keyProjection(layer)), [0, numKvHeads, headDim]);
  const value = ops.reshape(project(input, weightNames.valueProjection(layer)), [0, numKvHeads, headDim]);
  graph.output(graphOutputs.captureQuery(layer), query, onnxDataType.float, [graphDims.tokens, numHeads, headDim]);
  graph.output(graphOutputs.captureKey(layer), key, onnxDataType.float, [graphDims.tokens, numKvHeads, headDim]);

  // Step 2: RoPE on every chunk; cos and sin [tokens, 1, h/2] broadcast over heads.
  const cos = graph.op("Unsqueeze", [context.cos, ops.int64Constant([1])]);
  const sin = graph.op("Unsqueeze", [context.sin, ops.int64Constant([1])]);
  const rotatedQuery = ops.transpose(ops.rotateHalves(query, headDim, 3, cos, sin), [1, 0, 2]);
  const rotatedKey = ops.transpose(ops.rotateHalves(key, headDim, 3, cos, sin), [1, 0, 2]);
  const headValues = ops.transpose(value, [1, 0, 2]);

  // Step 3: per KV head, attention of its query heads over the cached and the new positions.
  const heads: string[] = [];
  for (let kvHead = 0; kvHead < numKvHeads; kvHead++) {
    const pastKey = graph.input(graphInputs.pastKey(layer, kvHead), onnxDataType.float, [graphDims.past, headDim]);
    const pastValue = graph.input(graphInputs.pastValue(layer, kvHead), onnxDataType.float, [graphDims.past, headDim]);
    const pastLength = graph.op("Shape", [pastKey], { start: 0, end: 1 });

    const groupQuery = ops.slice(rotatedQuery, 0, kvHead * groupSize, (kvHead + 1) * groupSize);
    const newKey = ops.slice(rotatedKey, 0, kvHead, kvHead + 1);
    const newValue = ops.reshape(ops.slice(headValues, 0, kvHead, kvHead + 1), [-1, headDim]);
    graph.output(graphOutputs.presentKey(layer, kvHead), ops.reshape(newKey, [-1, headDim]), onnxDataType.float, [graphDims.tokens, headDim]);
    graph.output(graphOutputs.presentValue(layer, kvHead), newValue, onnxDataType.float, [graphDims.tokens, headDim]);

    const flatQuery = ops.reshape(groupQuery, [-1, headDim]);
    const pastScores = graph.op("Gemm", [flatQuery, pastKey], { transB: 1, alpha: { float: 1 / Math.sqrt(headDim) } });
    const newScores = graph.op("Mul", [graph.op("MatMul", [groupQuery, ops.transpose(newKey, [0, 2, 1])]), context.scale]);
    const attended = attendOverPastAndNew(context, pastScores, maskNewScores(context, newScores), pastLength, pastValue, newValue);
    heads.push(ops.reshape(attended, [groupSize, -1, headDim]));
  }

  // Step 4: heads back to [tokens, numHeads · headDim], then the output projection.
  const merged = ops.reshape(ops.transpose(ops.concat(heads, 0), [1, 0, 2]), [-1, numHeads * headDim]);
  return project(merged, weightNames.outputProjection(layer));
}
