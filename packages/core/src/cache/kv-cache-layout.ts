// What a KV cache stores per token, and its size in bytes. Two layouts: the full cache (keys and values
// of every KV head) and the EliteKV cache (rotated elite key dims of every KV head plus one latent).
import type { ModelConfig } from "../model/model-config.js";

export type CacheDtype = "f32" | "f16";

export function cacheDtypeBytes(dtype: CacheDtype): number {
  return dtype === "f32" ? 4 : 2;
}

export interface FullCacheLayout {
  kind: "full";
  layers: number;
  kvHeads: number;
  headDim: number;
  dtype: CacheDtype;
}

/** Per-layer sizes of an EliteKV cache. */
export interface EliteLayerLayout {
  /** Rotated elite chunks kept per KV head (r); each chunk is two cached values. */
  ropeChunks: number;
  /** Width of the shared key/value latent (d_c). */
  latentDim: number;
}

export interface EliteCacheLayout {
  kind: "elitekv";
  kvHeads: number;
  headDim: number;
  layers: EliteLayerLayout[];
  dtype: CacheDtype;
}

export type KvCacheLayout = FullCacheLayout | EliteCacheLayout;

export function fullCacheLayout(config: ModelConfig, dtype: CacheDtype = "f32"): FullCacheLayout {
  return { kind: "full", layers: config.numLayers, kvHeads: config.numKvHeads, headDim: config.headDim, dtype };
}

/** Returns the cached values per token in one layer. */
export function valuesPerTokenInLayer(layout: KvCacheLayout, layer: number): number {
  if (layout.kind === "full") return 2 * layout.kvHeads * layout.headDim;
  const { ropeChunks, latentDim } = layout.layers[layer];
  return 2 * layout.kvHeads * ropeChunks + latentDim;
}

/** Returns the cache bytes one token occupies across all layers. */
export function cacheBytesPerToken(layout: KvCacheLayout): number {
  const layerCount = layout.kind === "full" ? layout.layers : layout.layers.length;
  let values = 0;
  for (let layer = 0; layer < layerCount; layer++) values += valuesPerTokenInLayer(layout, layer);
  return values * cacheDtypeBytes(layout.dtype);
}

/** Returns cache bytes per token of `layout` divided by those of the full cache of the same model. */
export function cacheRatio(layout: KvCacheLayout): number {
  const layerCount = layout.kind === "full" ? layout.layers : layout.layers.length;
  const full: FullCacheLayout = {
    kind: "full",
    layers: layerCount,
    kvHeads: layout.kvHeads,
    headDim: layout.headDim,
    dtype: layout.dtype,
  };
  return cacheBytesPerToken(layout) / cacheBytesPerToken(full);
}
