// The EliteKV description of a converted model: for every layer and KV head the RoPE chunks that keep
// their rotation (the elite chunks), and the width of the latent shared by the other key dims and the
// values. Also the canonical names of the converted attention weights.
import { InvalidConfigError } from "../errors/error-classes.js";
import type { EliteCacheLayout, CacheDtype } from "../cache/kv-cache-layout.js";
import type { ModelConfig } from "./model-config.js";

export interface EliteLayerConfig {
  /**
   * Elite chunk indices per KV head, numKvHeads lists of r chunk indices in 0 .. headDim/2 - 1. The
   * order is the order in which the ranking picked them; every layer has the same r.
   */
  ropeChunks: number[][];
  /** Width of this layer's shared key/value latent (d_c). */
  latentDim: number;
}

export interface EliteKvConfig {
  /** Rotated chunks kept per KV head (r). */
  ropeChunksPerHead: number;
  layers: EliteLayerConfig[];
}

/**
 * Canonical names of a converted layer's attention weights, linear weights [out, in]. The query and
 * output projections keep their base names (`weightNames.queryProjection`, `outputProjection`).
 */
export const eliteWeightNames = {
  /** Elite key rows [numKvHeads * 2r, hidden]: per KV head its chunks' first dims, then their second dims. */
  ropeKeyProjection: (layer: number) => `layers.${layer}.wk_rope`,
  /** Latent down projection [latentDim, hidden]. */
  latentDownProjection: (layer: number) => `layers.${layer}.w_dkv`,
  /** Key up projection [numKvHeads * (headDim - 2r), latentDim], nope dims of each KV head in ascending order. */
  keyUpProjection: (layer: number) => `layers.${layer}.w_uk`,
  /** Value up projection [numKvHeads * headDim, latentDim]. */
  valueUpProjection: (layer: number) => `layers.${layer}.w_uv`,
} as const;

/**
 * Returns the head dims that keep RoPE for the given elite chunks, in the order the rope key rows use:
 * the chunks' first dims (j), then their second dims (j + headDim/2).
 */
export function eliteRopeDims(headDim: number, chunks: readonly number[]): number[] {
  const half = headDim / 2;
  return [...chunks, ...chunks.map((chunk) => chunk + half)];
}

/** Returns the head dims that lose RoPE (the nope dims), ascending. */
export function eliteNopeDims(headDim: number, chunks: readonly number[]): number[] {
  const rope = new Set(eliteRopeDims(headDim, chunks));
  const dims: number[] = [];
  for (let dim = 0; dim < headDim; dim++) if (!rope.has(dim)) dims.push(dim);
  return dims;
}

/** Returns the cache ratio (2·G·r + d_c) / (2·G·h) of one layer. */
export function eliteLayerRatio(config: ModelConfig, ropeChunks: number, latentDim: number): number {
  return (2 * config.numKvHeads * ropeChunks + latentDim) / (2 * config.numKvHeads * config.headDim);
}

export function eliteCacheLayout(config: ModelConfig, elite: EliteKvConfig, dtype: CacheDtype = "f32"): EliteCacheLayout {
  return {
    kind: "elitekv",
    kvHeads: config.numKvHeads,
    headDim: config.headDim,
    dtype,
    layers: elite.layers.map((layer) => ({ ropeChunks: elite.ropeChunksPerHead, latentDim: layer.latentDim })),
  };
}

/** Checks an EliteKV config against its base model and throws InvalidConfigError naming the field. */
export function validateEliteKvConfig(config: ModelConfig, elite: EliteKvConfig, source?: string): EliteKvConfig {
  const chunkCount = config.headDim / 2;
  const r = elite.ropeChunksPerHead;
  const details = (field: string) => ({ file: source, field });
  if (!Number.isSafeInteger(r) || r < 0 || r > chunkCount) {
    throw new InvalidConfigError(`ropeChunksPerHead must be an integer in 0..${chunkCount}, got ${r}`, details("ropeChunksPerHead"));
  }
  if (elite.layers.length !== config.numLayers) {
    throw new InvalidConfigError(
      `EliteKV config has ${elite.layers.length} layers but the model has ${config.numLayers}`,
      details("layers"),
    );
  }
  const maxLatent = config.numKvHeads * (2 * config.headDim - 2 * r);
  elite.layers.forEach((layer, index) => {
    if (!Number.isSafeInteger(layer.latentDim) || layer.latentDim < 1 || layer.latentDim > maxLatent) {
      throw new InvalidConfigError(
        `layer ${index} latentDim must be an integer in 1..${maxLatent}, got ${layer.latentDim}`,
        details(`layers[${index}].latentDim`),
      );
    }
    if (layer.ropeChunks.length !== config.numKvHeads) {
      throw new InvalidConfigError(
        `layer ${index} lists elite chunks for ${layer.ropeChunks.length} KV heads but the model has ${config.numKvHeads}`,
        details(`layers[${index}].ropeChunks`),
      );
    }
    layer.ropeChunks.forEach((chunks, head) => {
      const unique = new Set(chunks);
      const valid = chunks.every((chunk) => Number.isSafeInteger(chunk) && chunk >= 0 && chunk < chunkCount);
      if (chunks.length !== r || unique.size !== r || !valid) {
        throw new InvalidConfigError(
          `layer ${index} KV head ${head} needs ${r} distinct chunk indices in 0..${chunkCount - 1}, got [${chunks.join(", ")}]`,
          details(`layers[${index}].ropeChunks[${head}]`),
        );
      }
    });
  });
  return elite;
}
