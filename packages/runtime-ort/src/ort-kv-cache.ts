// The KV cache of an ORT session, allocated once for the session's capacity. Full cache: per layer the
// rotated keys and the values, each [numKvHeads, capacity, headDim]. EliteKV cache: per layer the
// rotated elite keys [numKvHeads, capacity, 2r] and the latent [capacity, latentDim]. A head's positions
// are contiguous, so the first `length` of them are fed to ORT as views, without a copy.
import {
  BackendFailureError,
  cacheBytesPerToken,
  eliteCacheLayout,
  fullCacheLayout,
  type EliteKvConfig,
  type KvCache,
  type KvCacheLayout,
  type ModelConfig,
} from "@elitekv/core";

/** One layer's buffers: two per layer, with the width of each KV head's row (0 for a shared buffer). */
export interface OrtCacheLayer {
  /** Full: rotated keys. EliteKV: rotated elite keys. [numKvHeads, capacity, keyWidth]. */
  keys: Float32Array;
  keyWidth: number;
  /** Full: values [numKvHeads, capacity, headDim]. EliteKV: the latent [capacity, latentDim]. */
  values: Float32Array;
  valueWidth: number;
  /** True when `values` is one buffer shared by all heads (the EliteKV latent). */
  sharedValues: boolean;
}

export class OrtKvCache implements KvCache {
  readonly layout: KvCacheLayout;
  readonly capacity: number;
  readonly layers: readonly OrtCacheLayer[];
  readonly bytesAllocated: number;
  readonly bytesPerToken: number;
  private storedTokens = 0;

  constructor(config: ModelConfig, elite: EliteKvConfig | undefined, capacity: number) {
    this.capacity = capacity;
    this.layout = elite === undefined ? fullCacheLayout(config, "f32") : eliteCacheLayout(config, elite, "f32");
    const { numKvHeads, headDim } = config;

    const layers: OrtCacheLayer[] = [];
    try {
      for (let layer = 0; layer < config.numLayers; layer++) {
        if (elite === undefined) {
          layers.push({
            keys: new Float32Array(numKvHeads * capacity * headDim),
            keyWidth: headDim,
            values: new Float32Array(numKvHeads * capacity * headDim),
            valueWidth: headDim,
            sharedValues: false,
          });
        } else {
          const ropeWidth = 2 * elite.ropeChunksPerHead;
          const latentDim = elite.layers[layer].latentDim;
          layers.push({
            keys: new Float32Array(numKvHeads * capacity * ropeWidth),
            keyWidth: ropeWidth,
            values: new Float32Array(capacity * latentDim),
            valueWidth: latentDim,
            sharedValues: true,
          });
        }
      }
    } catch (error) {
      throw new BackendFailureError(
        `could not allocate a KV cache of ${capacity} tokens (${cacheBytesPerToken(this.layout) * capacity} bytes); ` +
          "create the session with a smaller maxContext",
        { field: "maxContext", cause: error },
      );
    }
    this.layers = layers;
    this.bytesAllocated = layers.reduce((sum, layer) => sum + layer.keys.byteLength + layer.values.byteLength, 0);
    this.bytesPerToken = this.bytesAllocated / capacity;
  }

  get length(): number {
    return this.storedTokens;
  }

  get bytesUsed(): number {
    return this.storedTokens * this.bytesPerToken;
  }

  setLength(length: number): void {
    this.storedTokens = length;
  }

  /** Returns a view of the first `length` positions of one head's keys, [length, keyWidth]. */
  pastKeys(layer: number, kvHead: number, length: number): Float32Array {
    const { keys, keyWidth } = this.layers[layer];
    const start = kvHead * this.capacity * keyWidth;
    return keys.subarray(start, start + length * keyWidth);
  }

  /** Returns a view of the first `length` positions of one head's values, or of the shared latent. */
  pastValues(layer: number, kvHead: number, length: number): Float32Array {
    const { values, valueWidth, sharedValues } = this.layers[layer];
    const start = sharedValues ? 0 : kvHead * this.capacity * valueWidth;
    return values.subarray(start, start + length * valueWidth);
  }

  /** Returns a view of `tokens` positions from `start` of one head's keys, which ORT writes as an output. */
  newKeys(layer: number, kvHead: number, start: number, tokens: number): Float32Array {
    const { keys, keyWidth } = this.layers[layer];
    const offset = (kvHead * this.capacity + start) * keyWidth;
    return keys.subarray(offset, offset + tokens * keyWidth);
  }

  /** Returns a view of `tokens` positions from `start` of one head's values, or of the shared latent. */
  newValues(layer: number, kvHead: number, start: number, tokens: number): Float32Array {
    const { values, valueWidth, sharedValues } = this.layers[layer];
    const offset = ((sharedValues ? 0 : kvHead * this.capacity) + start) * valueWidth;
    return values.subarray(offset, offset + tokens * valueWidth);
  }
}
