// The whole decoder as one ONNX graph: token embedding, every layer (RMSNorm, attention, SwiGLU MLP,
// residuals), the final norm and the output head over the requested rows. One graph serves prefill and
// decode: the cache of past positions comes in as inputs of any length (zero for a first prefill), and
// the keys and values of this run come out for the session to store.
import { weightNames, type LoadedModel } from "@elitekv/core";

import type { AttentionContext } from "./attention-context.js";
import { buildEliteAttention } from "./elite-attention-graph.js";
import { buildFullAttention } from "./full-attention-graph.js";
import { graphDims, graphInputs, graphOutputs } from "./graph-names.js";
import { GraphOps, type WeightDtype } from "./graph-ops.js";
import { GraphBuilder, type EncodedModel } from "../onnx/graph-builder.js";
import { onnxDataType } from "../onnx/onnx-schema.js";

export interface DecoderGraphOptions {
  /** Storage of the linear weights in the graph. */
  weightDtype: WeightDtype;
}

export function buildDecoderGraph(model: LoadedModel, options: DecoderGraphOptions): EncodedModel {
  const { config, weights } = model;
  const { weightDtype } = options;
  const { hiddenSize, headDim, vocabSize, numLayers } = config;
  const graph = new GraphBuilder(model.elite === undefined ? "elitekv-decoder" : "elitekv-decoder-absorbed");
  const ops = new GraphOps(graph, weightDtype);
  const weight = (name: string) => {
    const tensor = weights.get(name);
    return graph.weight(name, tensor.data, tensor.shape, ops.floatStorage);
  };
  const project = (x: string, name: string) => {
    const tensor = weights.get(name);
    return ops.project(x, name, tensor.data, tensor.shape);
  };

  // Step 1: per-run inputs.
  const ids = graph.input(graphInputs.ids, onnxDataType.int64, [graphDims.tokens]);
  const cos = graph.input(graphInputs.cos, onnxDataType.float, [graphDims.tokens, headDim / 2]);
  const sin = graph.input(graphInputs.sin, onnxDataType.float, [graphDims.tokens, headDim / 2]);
  const causalMask = graph.input(graphInputs.causalMask, onnxDataType.float, [graphDims.tokens, graphDims.tokens]);
  const logitRows = graph.input(graphInputs.logitRows, onnxDataType.int64, [graphDims.rows]);
  const context: AttentionContext = {
    ops,
    config,
    weights,
    cos,
    sin,
    causalMask,
    scale: ops.scalar(1 / Math.sqrt(headDim)),
    sliceToEnd: ops.int64Constant([Number.MAX_SAFE_INTEGER]),
  };

  // Step 2: the embedding, then every layer with its two residual branches.
  const embedding = weight(weightNames.tokenEmbedding);
  let hidden = graph.op("Gather", [embedding, ids], { axis: 0 });
  for (let layer = 0; layer < numLayers; layer++) {
    const attentionInput = ops.rmsNorm(hidden, weight(weightNames.attentionNorm(layer)), config.rmsNormEps);
    graph.output(graphOutputs.captureInput(layer), attentionInput, onnxDataType.float, [graphDims.tokens, hiddenSize]);
    const attention =
      model.elite === undefined
        ? buildFullAttention(context, layer, attentionInput)
        : buildEliteAttention(context, model.elite, layer, attentionInput);
    hidden = graph.op("Add", [hidden, attention]);

    const mlpInput = ops.rmsNorm(hidden, weight(weightNames.ffnNorm(layer)), config.rmsNormEps);
    const gate = project(mlpInput, weightNames.gateProjection(layer));
    const up = project(mlpInput, weightNames.upProjection(layer));
    hidden = graph.op("Add", [hidden, project(ops.swiglu(gate, up), weightNames.downProjection(layer))]);
  }

  // Step 3: only the requested rows go through the final norm and the output head.
  const rows = graph.op("Gather", [hidden, logitRows], { axis: 0 });
  const normalized = ops.rmsNorm(rows, weight(weightNames.finalNorm), config.rmsNormEps);
  // A tied head reuses the float embedding table, unless the linear weights are quantized: then the
  // head gets its own quantized copy and the table stays float for the lookup.
  let logits: string;
  if (weights.has(weightNames.outputHead)) {
    logits = project(normalized, weightNames.outputHead);
  } else if (weightDtype === "f32" || weightDtype === "f16") {
    logits = ops.linear(normalized, embedding);
  } else {
    const table = weights.get(weightNames.tokenEmbedding);
    logits = ops.project(normalized, "output_head_tied", table.data, table.shape);
  }
  graph.output(graphOutputs.logits, logits, onnxDataType.float, [graphDims.rows, vocabSize]);
  return graph.encode();
}
