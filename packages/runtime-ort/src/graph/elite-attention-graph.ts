// The attention block of a converted (EliteKV) layer in absorbed form. The cache stores per token the
// rotated elite keys of every KV head (2r values each) and one latent c (d_c values). A query head i of
// KV head g scores a cached token as
//   q_rope,i · k_rope,g  +  q_nope,i · (W_uk,g c)  =  q_rope,i · k_rope,g  +  (M_i x) · c,
// with M_i = W_uk,gᵀ W_q,i,nope [d_c, hidden] folded at build time, and its output
//   W_o,i (W_uv,g Σ w c)  =  N_i (Σ w c),  N_i = W_o,i W_uv,g [hidden, d_c],
// so neither full keys nor full values exist at any point.
import { eliteNopeDims, eliteRopeDims, eliteWeightNames, weightNames, type EliteKvConfig, type Tensor } from "@elitekv/core";

import { attendOverPastAndNew, maskNewScores, type AttentionContext } from "./attention-context.js";
import { graphDims, graphInputs, graphOutputs } from "./graph-names.js";
import { onnxDataType } from "../onnx/onnx-schema.js";

export function buildEliteAttention(context: AttentionContext, elite: EliteKvConfig, layer: number, input: string): string {
  const { ops, config, weights } = context;
  const { graph } = ops;
  const { numHeads, numKvHeads, headDim, hiddenSize } = config;
  const groupSize = numHeads / numKvHeads;
  const r = elite.ropeChunksPerHead;
  const latentDim = elite.layers[layer].latentDim;
  const chunks = elite.layers[layer].ropeChunks;

  const queryWeight = weights.get(weightNames.queryProjection(layer));
  const keyUp = weights.get(eliteWeightNames.keyUpProjection(layer));
  const valueUp = weights.get(eliteWeightNames.valueUpProjection(layer));
  const outputWeight = weights.get(weightNames.outputProjection(layer));
  const ropeKeyWeight = weights.get(eliteWeightNames.ropeKeyProjection(layer));
  const latentWeight = weights.get(eliteWeightNames.latentDownProjection(layer));

  // Step 1: projections. Rope queries [tokens, H, 2r], absorbed latent queries [tokens, H, d_c], rope
  // keys [tokens, G, 2r] and the latent [tokens, d_c]. With r = 0 there are no rope parts at all.
  const latentQuery = ops.reshape(
    ops.project(input, `layers.${layer}.wq_latent`, absorbedQueryRows(queryWeight, keyUp, chunks, headDim, groupSize, latentDim), [numHeads * latentDim, hiddenSize]),
    [0, numHeads, latentDim],
  );
  const latentName = eliteWeightNames.latentDownProjection(layer);
  const latent = ops.project(input, latentName, latentWeight.data, latentWeight.shape);
  let rotatedQuery: string | undefined;
  let rotatedKey: string | undefined;
  let ropeKey: string | undefined;
  if (r > 0) {
    const ropeQuery = ops.reshape(
      ops.project(input, `layers.${layer}.wq_rope`, ropeQueryRows(queryWeight, chunks, headDim, groupSize, r), [numHeads * 2 * r, hiddenSize]),
      [0, numHeads, 2 * r],
    );
    const ropeKeyName = eliteWeightNames.ropeKeyProjection(layer);
    ropeKey = ops.reshape(ops.project(input, ropeKeyName, ropeKeyWeight.data, ropeKeyWeight.shape), [0, numKvHeads, 2 * r]);

    // Step 2: rotate the elite chunks only, with each head's own chunk frequencies.
    const queryChunks = Array.from({ length: numHeads }, (_, head) => chunks[Math.floor(head / groupSize)]).flat();
    rotatedQuery = ops.transpose(rotateElite(context, ropeQuery, queryChunks, numHeads, r), [1, 0, 2]);
    rotatedKey = ops.transpose(rotateElite(context, ropeKey, chunks.flat(), numKvHeads, r), [1, 0, 2]);
  }
  addCaptureOutputs(context, elite, layer, input, ropeKey, latent, queryWeight, keyUp);
  graph.output(graphOutputs.presentLatent(layer), latent, onnxDataType.float, [graphDims.tokens, latentDim]);

  // Step 3: scores. The latent part covers all heads at once; the rope part goes per KV head.
  const pastLatent = graph.input(graphInputs.pastLatent(layer), onnxDataType.float, [graphDims.past, latentDim]);
  const pastLength = graph.op("Shape", [pastLatent], { start: 0, end: 1 });
  const headLatentQuery = ops.transpose(latentQuery, [1, 0, 2]);
  const flatLatentQuery = ops.reshape(headLatentQuery, [-1, latentDim]);
  const pastLatentScores = graph.op("Gemm", [flatLatentQuery, pastLatent], { transB: 1 });
  const newLatentScores = graph.op("MatMul", [headLatentQuery, ops.transpose(graph.op("Unsqueeze", [latent, ops.int64Constant([0])]), [0, 2, 1])]);

  const pastRopeScores: string[] = [];
  const newRopeScores: string[] = [];
  for (let kvHead = 0; rotatedQuery !== undefined && rotatedKey !== undefined && kvHead < numKvHeads; kvHead++) {
    const pastRopeKey = graph.input(graphInputs.pastRopeKey(layer, kvHead), onnxDataType.float, [graphDims.past, 2 * r]);
    const groupQuery = ops.slice(rotatedQuery, 0, kvHead * groupSize, (kvHead + 1) * groupSize);
    const newKey = ops.slice(rotatedKey, 0, kvHead, kvHead + 1);
    graph.output(graphOutputs.presentRopeKey(layer, kvHead), ops.reshape(newKey, [-1, 2 * r]), onnxDataType.float, [graphDims.tokens, 2 * r]);
    pastRopeScores.push(graph.op("Gemm", [ops.reshape(groupQuery, [-1, 2 * r]), pastRopeKey], { transB: 1 }));
    newRopeScores.push(graph.op("MatMul", [groupQuery, ops.transpose(newKey, [0, 2, 1])]));
  }
  const sum = (latentScores: string, ropeScores: string[]) =>
    ropeScores.length === 0 ? latentScores : graph.op("Add", [latentScores, ops.concat(ropeScores, 0)]);
  const pastScores = graph.op("Mul", [sum(pastLatentScores, pastRopeScores), context.scale]);
  const newScores = graph.op("Mul", [sum(newLatentScores, newRopeScores), context.scale]);

  // Step 4: the attention-weighted latent per head [H · tokens, d_c], then the absorbed output projection.
  const attended = attendOverPastAndNew(context, pastScores, maskNewScores(context, newScores), pastLength, pastLatent, latent);
  const merged = ops.reshape(ops.transpose(ops.reshape(attended, [numHeads, -1, latentDim]), [1, 0, 2]), [-1, numHeads * latentDim]);
  const outputRows = absorbedOutputRows(outputWeight, valueUp, headDim, groupSize, latentDim, hiddenSize, numHeads);
  return ops.project(merged, `layers.${layer}.wo_latent`, outputRows, [hiddenSize, numHeads * latentDim]);
}

/** Rotates x [tokens, heads, 2r] (chunk first dims, then second dims) by the frequencies of `chunkList` [heads · r]. */
function rotateElite(context: AttentionContext, x: string, chunkList: readonly number[], heads: number, r: number): string {
  const { ops } = context;
  const indices = ops.int64Constant(chunkList);
  const cos = ops.reshape(ops.graph.op("Gather", [context.cos, indices], { axis: 1 }), [0, heads, r]);
  const sin = ops.reshape(ops.graph.op("Gather", [context.sin, indices], { axis: 1 }), [0, heads, r]);
  return ops.rotateHalves(x, 2 * r, 3, cos, sin);
}

/**
 * Capture outputs of a converted layer: the full query before rotation (from the base query projection)
 * and the key before rotation, its elite dims from the rope keys and its nope dims rebuilt as W_uk c.
 * ORT runs these nodes only when a capture output is requested.
 */
function addCaptureOutputs(
  context: AttentionContext,
  elite: EliteKvConfig,
  layer: number,
  input: string,
  ropeKey: string | undefined,
  latent: string,
  queryWeight: Tensor,
  keyUp: Tensor,
): void {
  const { ops, config } = context;
  const { graph } = ops;
  const { numHeads, numKvHeads, headDim } = config;
  const r = elite.ropeChunksPerHead;
  const chunks = elite.layers[layer].ropeChunks;

  const query = ops.reshape(ops.project(input, weightNames.queryProjection(layer), queryWeight.data, queryWeight.shape), [0, numHeads, headDim]);
  graph.output(graphOutputs.captureQuery(layer), query, onnxDataType.float, [graphDims.tokens, numHeads, headDim]);

  // A zero-width part (no nope dims at r = h/2, no rope dims at r = 0) is left out, because ONNX
  // Reshape cannot name a zero-width axis beside a copied one.
  const parts = ropeKey === undefined ? [] : [ropeKey];
  if (headDim > 2 * r) {
    const nopeKey = ops.project(latent, eliteWeightNames.keyUpProjection(layer), keyUp.data, keyUp.shape);
    parts.push(ops.reshape(nopeKey, [0, numKvHeads, headDim - 2 * r]));
  }
  const ordered = ops.reshape(ops.concat(parts, 2), [0, numKvHeads * headDim]);

  const gather = naturalOrderIndices(chunks, headDim, r);
  const key = ops.reshape(graph.op("Gather", [ordered, ops.int64Constant(gather)], { axis: 1 }), [0, numKvHeads, headDim]);
  graph.output(graphOutputs.captureKey(layer), key, onnxDataType.float, [graphDims.tokens, numKvHeads, headDim]);
}

/**
 * Indices into [tokens, G · h] rows in which head g lists its rope dims, then its nope dims, that put every
 * head's dims back in natural order.
 */
function naturalOrderIndices(chunks: readonly (readonly number[])[], headDim: number, r: number): number[] {
  const indices: number[] = [];
  for (let kvHead = 0; kvHead < chunks.length; kvHead++) {
    const ropeDims = eliteRopeDims(headDim, chunks[kvHead]);
    const nopeDims = eliteNopeDims(headDim, chunks[kvHead]);
    for (let dim = 0; dim < headDim; dim++) {
      const ropeIndex = ropeDims.indexOf(dim);
      indices.push(kvHead * headDim + (ropeIndex >= 0 ? ropeIndex : 2 * r + nopeDims.indexOf(dim)));
    }
  }
  return indices;
}

/** Rows of W_q at each head's elite dims, head-major: [H · 2r, hidden]. */
function ropeQueryRows(queryWeight: Tensor, chunks: readonly (readonly number[])[], headDim: number, groupSize: number, r: number): Float32Array {
  const hidden = queryWeight.shape[1];
  const heads = queryWeight.shape[0] / headDim;
  const out = new Float32Array(heads * 2 * r * hidden);
  for (let head = 0; head < heads; head++) {
    const dims = eliteRopeDims(headDim, chunks[Math.floor(head / groupSize)]);
    dims.forEach((dim, index) => {
      const source = (head * headDim + dim) * hidden;
      out.set(queryWeight.data.subarray(source, source + hidden), (head * 2 * r + index) * hidden);
    });
  }
  return out;
}

/** M_i = W_uk,gᵀ W_q,i,nope for every head i, stacked: [H · d_c, hidden], accumulated in float64. */
function absorbedQueryRows(
  queryWeight: Tensor,
  keyUp: Tensor,
  chunks: readonly (readonly number[])[],
  headDim: number,
  groupSize: number,
  latentDim: number,
): Float32Array {
  const hidden = queryWeight.shape[1];
  const heads = queryWeight.shape[0] / headDim;
  const out = new Float32Array(heads * latentDim * hidden);
  const row = new Float64Array(hidden);
  for (let head = 0; head < heads; head++) {
    const kvHead = Math.floor(head / groupSize);
    const nopeDims = eliteNopeDims(headDim, chunks[kvHead]);
    const nopeWidth = nopeDims.length;
    for (let c = 0; c < latentDim; c++) {
      row.fill(0);
      for (let n = 0; n < nopeWidth; n++) {
        const coefficient = keyUp.data[(kvHead * nopeWidth + n) * latentDim + c];
        if (coefficient === 0) continue;
        const source = (head * headDim + nopeDims[n]) * hidden;
        for (let k = 0; k < hidden; k++) row[k] += coefficient * queryWeight.data[source + k];
      }
      out.set(row, (head * latentDim + c) * hidden);
    }
  }
  return out;
}

/** N_i = W_o,i W_uv,g for every head i, side by side: [hidden, H · d_c], accumulated in float64. */
function absorbedOutputRows(
  outputWeight: Tensor,
  valueUp: Tensor,
  headDim: number,
  groupSize: number,
  latentDim: number,
  hidden: number,
  heads: number,
): Float32Array {
  const out = new Float32Array(hidden * heads * latentDim);
  const row = new Float64Array(latentDim);
  const inputWidth = heads * headDim;
  for (let o = 0; o < hidden; o++) {
    for (let head = 0; head < heads; head++) {
      const kvHead = Math.floor(head / groupSize);
      row.fill(0);
      for (let d = 0; d < headDim; d++) {
        const coefficient = outputWeight.data[o * inputWidth + head * headDim + d];
        const source = (kvHead * headDim + d) * latentDim;
        for (let c = 0; c < latentDim; c++) row[c] += coefficient * valueUp.data[source + c];
      }
      out.set(row, o * heads * latentDim + head * latentDim);
    }
  }
  return out;
}
