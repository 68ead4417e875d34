// The full KV cache of a CPU session: per layer one SharedArrayBuffer, allocated once for the session's
// capacity, containing the rotated keys [numKvHeads, capacity, headDim] followed by the values in the same
// layout. Keeping a head's positions contiguous lets attention stream them in order.
import {
  BackendFailureError,
  fullCacheLayout,
  InvalidArgumentError,
  type FullCacheLayout,
  type KvCache,
  type ModelConfig,
} from "@elitekv/core";

import { maxElementIndex } from "./pool-protocol.js";
import type { SharedBufferHandle, ThreadPool } from "./thread-pool.js";

export class FullKvCache implements KvCache {
  readonly layout: FullCacheLayout;
  readonly capacity: number;
  /** One shared buffer per layer, registered with the session's thread pool. */
  readonly layers: readonly SharedBufferHandle[];
  /** Element offset of the values within each layer's buffer. Keys start at 0. */
  readonly valueOffset: number;
  readonly bytesAllocated: number;
  private storedTokens = 0;

  constructor(config: ModelConfig, capacity: number, pool: ThreadPool) {
    this.layout = fullCacheLayout(config, "f32");
    this.capacity = capacity;
    this.valueOffset = config.numKvHeads * capacity * config.headDim;
    if (2 * this.valueOffset > maxElementIndex) {
      throw new InvalidArgumentError(
        `a KV cache of ${capacity} tokens needs ${2 * this.valueOffset} values per layer, above the CPU backend's limit of ` +
          `${maxElementIndex}; create the session with a smaller maxContext`,
        { field: "maxContext" },
      );
    }

    const layerBytes = 2 * this.valueOffset * Float32Array.BYTES_PER_ELEMENT;
    const layers: SharedBufferHandle[] = [];
    for (let layer = 0; layer < config.numLayers; layer++) {
      let buffer: SharedArrayBuffer;
      try {
        buffer = new SharedArrayBuffer(layerBytes);
      } catch (error) {
        for (const handle of layers) pool.releaseBuffer(handle);
        throw new BackendFailureError(
          `could not allocate ${layerBytes * config.numLayers} bytes for a KV cache of ${capacity} tokens; ` +
            "create the session with a smaller maxContext",
          { field: "maxContext", cause: error },
        );
      }
      layers.push(pool.registerBuffer(buffer));
    }
    this.layers = layers;
    this.bytesAllocated = layers.reduce((sum, handle) => sum + handle.buffer.byteLength, 0);
  }

  get length(): number {
    return this.storedTokens;
  }

  get bytesPerToken(): number {
    return this.bytesAllocated / this.capacity;
  }

  get bytesUsed(): number {
    return this.storedTokens * this.bytesPerToken;
  }

  /** Records that positions 0 .. length - 1 hold valid keys and values. */
  setLength(length: number): void {
    this.storedTokens = length;
  }

  /**
   * Writes the keys and values of one token at `position` into `layer`. `source` contains numKvHeads
   * key heads from `keyOffset` and as many value heads from `valueOffset`, headDim values each.
   */
  writeToken(layer: number, position: number, source: Float32Array, keyOffset: number, valueOffset: number): void {
    const { kvHeads, headDim } = this.layout;
    const data = this.layers[layer].data;
    for (let head = 0; head < kvHeads; head++) {
      const target = (head * this.capacity + position) * headDim;
      const from = head * headDim;
      data.set(source.subarray(keyOffset + from, keyOffset + from + headDim), target);
      data.set(source.subarray(valueOffset + from, valueOffset + from + headDim), this.valueOffset + target);
    }
  }

  release(pool: ThreadPool): void {
    for (const handle of this.layers) pool.releaseBuffer(handle);
  }
}
