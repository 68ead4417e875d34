// Bytes one decode step must read from memory: every weight once, plus the cached keys and values (or
// elite keys and latents) of every position it attends to. This is the traffic side of the decode
// roofline, computed from the model config, not from a backend's buffers.
import {
  cacheBytesPerToken,
  InvalidArgumentError,
  type EliteKvConfig,
  type KvCacheLayout,
  type ModelConfig,
} from "@elitekv/core";

/** Weight elements one decode step reads, by part. */
export interface WeightElementsRead {
  /** One row of the token embedding. */
  embeddingRow: number;
  /** All layers: norms, attention projections (base or EliteKV) and the SwiGLU FFN. */
  layers: number;
  /** Final norm and the output head [vocabSize, hiddenSize], which is the embedding matrix when tied. */
  head: number;
  total: number;
}

export interface DecodeBytesRead {
  weightBytes: number;
  cacheBytes: number;
  /** weightBytes + cacheBytes. */
  totalBytes: number;
}

/**
 * Returns the weight elements one decode step reads: one embedding row, per layer both norms, the
 * attention projections and the FFN, then the final norm and the output head. A converted layer reads
 * wq, wk_rope [G·2r, D], w_dkv [d_c, D], w_uk [G·(h − 2r), d_c], w_uv [G·h, d_c] and wo.
 * NOTE: this counts the canonical weights. A backend that precomputes merged matrices (w_uk folded
 * into wq, for example) reads a different amount.
 */
export function weightElementsReadPerToken(config: ModelConfig, elite?: EliteKvConfig): WeightElementsRead {
  const hidden = config.hiddenSize;
  const queryWidth = config.numHeads * config.headDim;
  const ffn = 3 * config.intermediateSize * hidden;
  const norms = 2 * hidden;

  if (elite !== undefined && elite.layers.length !== config.numLayers) {
    throw new InvalidArgumentError(
      `the EliteKV config has ${elite.layers.length} layers but the model has ${config.numLayers}; pass the config of this model`,
      { field: "elite.layers" },
    );
  }

  let layers = 0;
  for (let layer = 0; layer < config.numLayers; layer++) {
    const attention = elite === undefined ? baseAttentionElements(config) : eliteAttentionElements(config, elite, layer);
    layers += norms + attention + queryWidth * hidden + ffn;
  }

  const embeddingRow = hidden;
  const head = hidden + config.vocabSize * hidden;
  return { embeddingRow, layers, head, total: embeddingRow + layers + head };
}

/** Returns the elements of wq, wk and wv of a base layer. The caller adds wo. */
function baseAttentionElements(config: ModelConfig): number {
  const queryWidth = config.numHeads * config.headDim;
  const keyWidth = config.numKvHeads * config.headDim;
  return (queryWidth + 2 * keyWidth) * config.hiddenSize;
}

/** Returns the elements of wq, wk_rope, w_dkv, w_uk and w_uv of a converted layer. The caller adds wo. */
function eliteAttentionElements(config: ModelConfig, elite: EliteKvConfig, layer: number): number {
  const hidden = config.hiddenSize;
  const kvHeads = config.numKvHeads;
  const ropeDims = 2 * elite.ropeChunksPerHead;
  const latent = elite.layers[layer].latentDim;

  const query = config.numHeads * config.headDim * hidden;
  const ropeKey = kvHeads * ropeDims * hidden;
  const down = latent * hidden;
  const keyUp = kvHeads * (config.headDim - ropeDims) * latent;
  const valueUp = kvHeads * config.headDim * latent;
  return query + ropeKey + down + keyUp + valueUp;
}

/**
 * Returns the bytes one decode step reads when `cacheTokens` positions are in the cache (the new token
 * included): weights at `weightBytesPerElement` each, cache at the layout's dtype.
 */
export function decodeBytesReadPerToken(input: {
  config: ModelConfig;
  elite?: EliteKvConfig;
  weightBytesPerElement: number;
  cacheLayout: KvCacheLayout;
  cacheTokens: number;
}): DecodeBytesRead {
  if (!(input.weightBytesPerElement > 0)) {
    throw new InvalidArgumentError(`weightBytesPerElement must be positive, got ${input.weightBytesPerElement}`, {
      field: "weightBytesPerElement",
    });
  }
  if (!(input.cacheTokens >= 0)) {
    throw new InvalidArgumentError(`cacheTokens must be zero or more, got ${input.cacheTokens}`, { field: "cacheTokens" });
  }

  const weightBytes = weightElementsReadPerToken(input.config, input.elite).total * input.weightBytesPerElement;
  const cacheBytes = cacheBytesPerToken(input.cacheLayout) * input.cacheTokens;
  return { weightBytes, cacheBytes, totalBytes: weightBytes + cacheBytes };
}
