// The compressed KV cache of a converted (EliteKV) model on the CPU: per layer one SharedArrayBuffer,
// registered with the thread pool and allocated once for the session's capacity. It contains the
// rotated elite key dims [numKvHeads, capacity, 2r] followed by the latent [capacity, latentDim].
// Full keys and values are never stored, because attention reads the latent through the absorbed up
// projections.
import {
  BackendFailureError,
  eliteCacheLayout,
  InvalidArgumentError,
  type EliteCacheLayout,
  type EliteKvConfig,
  type KvCache,
  type ModelConfig,
} from "@elitekv/core";

import { maxElementIndex } from "./pool-protocol.js";
import type { SharedBufferHandle, ThreadPool } from "./thread-pool.js";

/** The buffer and element offsets of one layer's cached values. */
export interface EliteCacheLayer {
  handle: SharedBufferHandle;
  /** Cached rope values per KV head and token (2r). */
  ropeWidth: number;
  /** Element offset of the latent rows. Rope keys start at 0. */
  latentOffset: number;
  latentDim: number;
}

export class EliteKvCache implements KvCache {
  readonly layout: EliteCacheLayout;
  readonly capacity: number;
  readonly layers: readonly EliteCacheLayer[];
  readonly bytesAllocated: number;
  private storedTokens = 0;

  constructor(config: ModelConfig, elite: EliteKvConfig, capacity: number, pool: ThreadPool) {
    this.layout = eliteCacheLayout(config, elite, "f32");
    this.capacity = capacity;

    const ropeWidth = 2 * elite.ropeChunksPerHead;
    const layers: EliteCacheLayer[] = [];
    for (const layer of elite.layers) {
      const latentOffset = config.numKvHeads * capacity * ropeWidth;
      const values = latentOffset + capacity * layer.latentDim;
      // The same int32 bound as the pool's job parameters, so that a worker job can address the layer.
      if (!Number.isSafeInteger(values) || values > maxElementIndex) {
        throw new InvalidArgumentError(
          `an EliteKV cache of ${capacity} tokens needs ${values} values per layer, above the CPU backend's limit of ` +
            `${maxElementIndex}; create the session with a smaller maxContext`,
          { field: "maxContext" },
        );
      }

      let buffer: SharedArrayBuffer;
      try {
        buffer = new SharedArrayBuffer(values * Float32Array.BYTES_PER_ELEMENT);
      } catch (error) {
        for (const allocated of layers) pool.releaseBuffer(allocated.handle);
        throw new BackendFailureError(
          `could not allocate ${values * Float32Array.BYTES_PER_ELEMENT} bytes for one layer of an EliteKV cache of ` +
            `${capacity} tokens; create the session with a smaller maxContext`,
          { field: "maxContext", cause: error },
        );
      }
      layers.push({ handle: pool.registerBuffer(buffer), ropeWidth, latentOffset, latentDim: layer.latentDim });
    }
    this.layers = layers;
    this.bytesAllocated = layers.reduce((sum, layer) => sum + layer.handle.buffer.byteLength, 0);
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

  /** Records that positions 0 .. length - 1 hold valid entries. */
  setLength(length: number): void {
    this.storedTokens = length;
  }

  /**
   * Writes one token's entries at `position` into `layer`: numKvHeads rotated rope key rows of 2r values
   * from `ropeOffset` in `source`, and latentDim latent values from `latentOffset`.
   */
  writeToken(layer: number, position: number, source: Float32Array, ropeOffset: number, latentOffset: number): void {
    const entry = this.layers[layer];
    const data = entry.handle.data;
    const width = entry.ropeWidth;
    for (let head = 0; head < this.layout.kvHeads; head++) {
      const from = ropeOffset + head * width;
      data.set(source.subarray(from, from + width), (head * this.capacity + position) * width);
    }
    const target = entry.latentOffset + position * entry.latentDim;
    data.set(source.subarray(latentOffset, latentOffset + entry.latentDim), target);
  }

  release(pool: ThreadPool): void {
    for (const layer of this.layers) pool.releaseBuffer(layer.handle);
  }
}
