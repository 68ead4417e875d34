// Canonical weight names and the store interface every loader fills and every backend reads.
import type { Tensor } from "./tensor.js";

/**
 * Canonical names, independent of the source format. Linear weights are [outFeatures, inFeatures]; q and
 * k rows are in the "half" RoPE layout whatever the file used.
 */
export const weightNames = {
  tokenEmbedding: "token_embedding",
  finalNorm: "final_norm",
  /** Absent when the output head is tied to the token embedding. */
  outputHead: "output_head",
  attentionNorm: (layer: number) => `layers.${layer}.attention_norm`,
  queryProjection: (layer: number) => `layers.${layer}.wq`,
  keyProjection: (layer: number) => `layers.${layer}.wk`,
  valueProjection: (layer: number) => `layers.${layer}.wv`,
  outputProjection: (layer: number) => `layers.${layer}.wo`,
  ffnNorm: (layer: number) => `layers.${layer}.ffn_norm`,
  /** SwiGLU gate projection (w1). */
  gateProjection: (layer: number) => `layers.${layer}.w1`,
  /** SwiGLU down projection (w2). */
  downProjection: (layer: number) => `layers.${layer}.w2`,
  /** SwiGLU up projection (w3). */
  upProjection: (layer: number) => `layers.${layer}.w3`,
} as const;

export interface WeightStore {
  has(name: string): boolean;
  /** Returns the tensor or throws an error naming the missing weight. */
  get(name: string): Tensor;
  names(): string[];
}

/** A WeightStore over an in-memory map. */
export class MapWeightStore implements WeightStore {
  private readonly tensors: Map<string, Tensor>;
  private readonly source: string;

  constructor(tensors: Map<string, Tensor>, source = "weights") {
    this.tensors = tensors;
    this.source = source;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  get(name: string): Tensor {
    const tensor = this.tensors.get(name);
    if (tensor === undefined) {
      throw new Error(`${this.source}: weight ${name} is missing`);
    }
    return tensor;
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  set(name: string, tensor: Tensor): void {
    this.tensors.set(name, tensor);
  }
}
