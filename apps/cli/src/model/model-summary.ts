// The architecture facts that `elitekv info` prints, computed from a loaded model.
import {
  cacheBytesPerToken,
  elementCount,
  fullCacheLayout,
  type LoadedModel,
  type RopeLayout,
  type WeightStore,
} from "@elitekv/core";

/** Field names and order are the `info --json` contract. */
export interface ModelSummary {
  architecture: string;
  layers: number;
  hiddenSize: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ropeTheta: number;
  /** RoPE layout of the source file. Weights in memory always use the "half" layout. */
  ropeLayout: RopeLayout;
  vocabSize: number;
  /** Total weight elements. A tied output head shares the embedding and counts once. */
  parameters: number;
  /** Bytes one token occupies in a float32 full KV cache, over all layers. */
  kvCacheBytesPerToken: number;
}

export function summarizeModel(model: LoadedModel): ModelSummary {
  const { config } = model;
  return {
    architecture: config.architecture,
    layers: config.numLayers,
    hiddenSize: config.hiddenSize,
    heads: config.numHeads,
    kvHeads: config.numKvHeads,
    headDim: config.headDim,
    ropeTheta: config.rope.theta,
    ropeLayout: config.rope.sourceLayout,
    vocabSize: config.vocabSize,
    parameters: countParameters(model.weights),
    kvCacheBytesPerToken: cacheBytesPerToken(fullCacheLayout(config, "f32")),
  };
}

/**
 * Returns the number of weight elements in the store. Two names that share one data buffer (an output
 * head tied to the token embedding) count once.
 */
export function countParameters(weights: WeightStore): number {
  const seen = new Set<Float32Array>();
  let total = 0;
  for (const name of weights.names()) {
    const tensor = weights.get(name);
    if (seen.has(tensor.data)) continue;
    seen.add(tensor.data);
    total += elementCount(tensor.shape);
  }
  return total;
}
