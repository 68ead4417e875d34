// What every attention block builder gets from the decoder graph: the graph, the model, its per-run
// inputs and the values shared by all layers.
import type { ModelConfig, WeightStore } from "@elitekv/core";

import type { GraphOps } from "./graph-ops.js";

export interface AttentionContext {
  ops: GraphOps;
  config: ModelConfig;
  weights: WeightStore;
  /** float32 [tokens, headDim / 2]. */
  cos: string;
  sin: string;
  /** float32 [tokens, tokens], additive. */
  causalMask: string;
  /** 1 / sqrt(headDim) as a graph scalar. */
  scale: string;
  /** A large int64 [1] constant: the end of a slice that runs to the end of an axis. */
  sliceToEnd: string;
}

/** One layer's attention block: the normalised input in, the block's output [tokens, hidden] out. */
export type AttentionBlockBuilder = (context: AttentionContext, layer: number, input: string) => string;

/**
 * Softmax over [past | new] scores of shape [rows, past + tokens] and the attention-weighted sum of
 * `pastValues` [past, width] and `newValues` [tokens, width]. The scores are concatenated, never the
 * cached values, so no cache tensor is copied.
 */
export function attendOverPastAndNew(
  context: AttentionContext,
  pastScores: string,
  newScores: string,
  pastLength: string,
  pastValues: string,
  newValues: string,
): string {
  const { ops } = context;
  const weights = ops.graph.op("Softmax", [ops.concat([pastScores, newScores], 1)], { axis: -1 });
  const zero = ops.int64Constant([0]);
  const pastWeights = ops.sliceDynamic(weights, 1, zero, pastLength);
  const newWeights = ops.sliceDynamic(weights, 1, pastLength, context.sliceToEnd);
  return ops.graph.op("Add", [ops.graph.op("MatMul", [pastWeights, pastValues]), ops.graph.op("MatMul", [newWeights, newValues])]);
}

/**
 * Adds the causal mask [tokens, tokens] to new-token scores [heads, tokens, tokens] and flattens them to
 * [heads · tokens, tokens], the row order of the past scores.
 */
export function maskNewScores(context: AttentionContext, scores: string): string {
  const { ops } = context;
  // Reshape's 0 copies the input's dim 1, which is the token count.
  return ops.reshape(ops.graph.op("Add", [scores, context.causalMask]), [-1, 0]);
}
