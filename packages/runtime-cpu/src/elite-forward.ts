// The attention block of a converted (EliteKV) layer. One fused projection yields q, the elite rope
// keys and the latent, and RoPE turns only the elite chunks. The rope keys and the latent go to the
// EliteKV cache, which absorbed attention reads without rebuilding full keys or values. The rest of
// the forward pass is in DecoderForward.
import {
  eliteNopeDims,
  eliteRopeDims,
  ropeInverseFrequencies,
  type EliteKvConfig,
  type ModelConfig,
} from "@elitekv/core";

import type { AbsorbedAttentionScratch } from "./absorbed-attention.js";
import { DecoderForward, type CaptureBuffers } from "./decoder-forward.js";
import type { EliteKvCache } from "./elite-kv-cache.js";
import { parallelAbsorbedAttention } from "./parallel-ops.js";
import type { SharedBufferHandle, ThreadPool } from "./thread-pool.js";
import type { WeightArena } from "./weight-arena.js";

/** A converted layer's elite chunks and dim lists per KV head. */
interface EliteLayerPlan {
  chunks: readonly Int32Array[];
  ropeDims: readonly Int32Array[];
  nopeDims: readonly Int32Array[];
  /** Element index of this layer's dim order [numKvHeads, headDim] (rope dims, then nope dims) in the dim order buffer. */
  dimOrderOffset: number;
  latentDim: number;
  /** Width of the fused projection row: numHeads * headDim + numKvHeads * 2r + latentDim. */
  width: number;
}

export class EliteForward extends DecoderForward {
  private readonly cache: EliteKvCache;
  private readonly plans: readonly EliteLayerPlan[];
  private readonly ropeChunks: number;
  private readonly inverseFrequencies: Float64Array;
  private readonly cosines: Float64Array;
  private readonly sines: Float64Array;
  private readonly attentionScratch: AbsorbedAttentionScratch;
  /** Every layer's dim order, shared with the workers: small integers stored exactly as float32. */
  private readonly dimOrder: SharedBufferHandle;

  constructor(
    config: ModelConfig,
    elite: EliteKvConfig,
    arena: WeightArena,
    weights: SharedBufferHandle,
    cache: EliteKvCache,
    pool: ThreadPool,
    participants: number,
    chunkTokens: number,
  ) {
    const { numHeads, numKvHeads, headDim } = config;
    const r = elite.ropeChunksPerHead;
    const plans = elite.layers.map((layer, index): EliteLayerPlan => ({
      chunks: layer.ropeChunks.map((chunks) => Int32Array.from(chunks)),
      ropeDims: layer.ropeChunks.map((chunks) => Int32Array.from(eliteRopeDims(headDim, chunks))),
      nopeDims: layer.ropeChunks.map((chunks) => Int32Array.from(eliteNopeDims(headDim, chunks))),
      dimOrderOffset: index * numKvHeads * headDim,
      latentDim: layer.latentDim,
      width: numHeads * headDim + numKvHeads * 2 * r + layer.latentDim,
    }));
    super(config, arena, weights, pool, participants, chunkTokens, Math.max(...plans.map((plan) => plan.width)));
    this.plans = plans;
    this.ropeChunks = r;
    this.cache = cache;

    const dimOrder = new Float32Array(new SharedArrayBuffer(plans.length * numKvHeads * headDim * Float32Array.BYTES_PER_ELEMENT));
    for (const plan of plans) {
      for (let kvHead = 0; kvHead < numKvHeads; kvHead++) {
        const offset = plan.dimOrderOffset + kvHead * headDim;
        dimOrder.set(plan.ropeDims[kvHead], offset);
        dimOrder.set(plan.nopeDims[kvHead], offset + 2 * r);
      }
    }
    this.dimOrder = pool.registerBuffer(dimOrder.buffer as SharedArrayBuffer);

    const maxLatent = Math.max(...plans.map((plan) => plan.latentDim));
    this.inverseFrequencies = ropeInverseFrequencies(config.rope);
    this.cosines = new Float64Array(headDim / 2);
    this.sines = new Float64Array(headDim / 2);
    this.attentionScratch = {
      scores: new Float64Array(cache.capacity),
      ropeQuery: new Float64Array(2 * r),
      latentQuery: new Float64Array(maxLatent),
      latentSum: new Float64Array(maxLatent),
    };
  }

  /** Unregisters the scratch and dim order buffers from the pool's workers. */
  override release(): void {
    super.release();
    this.pool.releaseBuffer(this.dimOrder);
  }

  protected async runAttentionBlock(
    layer: number,
    count: number,
    startPosition: number,
    capture: CaptureBuffers | undefined,
    captureRow: number,
  ): Promise<void> {
    const { numHeads, numKvHeads, headDim } = this.config;
    const offsets = this.arena.layers[layer];
    const plan = this.plans[layer];
    const scratch = this.scratch.data;
    const width = plan.width;
    const projected = this.layout.queryKeyValue;
    const queryWidth = numHeads * headDim;
    const ropeKeyWidth = numKvHeads * 2 * this.ropeChunks;

    await this.projectAttentionInput(layer, count, width, capture, captureRow);

    const queries = capture?.queries.get(layer);
    const keys = capture?.keys.get(layer);
    for (let t = 0; t < count; t++) {
      const row = projected + t * width;
      if (queries !== undefined) queries.set(scratch.subarray(row, row + queryWidth), (captureRow + t) * queryWidth);
      if (keys !== undefined) this.reconstructKey(plan, offsets.keyUp!, row + queryWidth, row + queryWidth + ropeKeyWidth, keys, captureRow + t);

      this.rotateEliteChunks(plan, row, row + queryWidth, startPosition + t);
      this.cache.writeToken(layer, startPosition + t, scratch, row + queryWidth, row + queryWidth + ropeKeyWidth);
    }

    const cacheLayer = this.cache.layers[layer];
    await parallelAbsorbedAttention(
      this.pool,
      this.participants,
      { scratch: this.scratch, cache: cacheLayer.handle, weights: this.weights, dimOrder: this.dimOrder },
      {
        queryOffset: projected,
        queryStride: width,
        outputOffset: this.layout.attention,
        tokens: count,
        startPosition,
        numHeads,
        numKvHeads,
        headDim,
        capacity: this.cache.capacity,
        ropeWidth: cacheLayer.ropeWidth,
        latentOffset: cacheLayer.latentOffset,
        latentDim: cacheLayer.latentDim,
        dimOrderOffset: plan.dimOrderOffset,
        keyUpOffset: offsets.keyUp!,
        valueUpOffset: offsets.valueUp!,
      },
      this.attentionScratch,
    );

    await this.addOutputProjection(layer, count);
  }

  /**
   * Rotates, at `position`, the elite chunks of every query head (in the "half" layout, in place) and
   * of every rope key row (first dims then second dims, as cached). Query head i uses the chunks of KV
   * head floor(i / (numHeads / numKvHeads)). The other dims stay unrotated.
   */
  private rotateEliteChunks(plan: EliteLayerPlan, queryRow: number, ropeKeyRow: number, position: number): void {
    const { numHeads, numKvHeads, headDim } = this.config;
    const data = this.scratch.data;
    const half = headDim / 2;
    const r = this.ropeChunks;
    const groupSize = numHeads / numKvHeads;
    for (let j = 0; j < half; j++) {
      const angle = position * this.inverseFrequencies[j];
      this.cosines[j] = Math.cos(angle);
      this.sines[j] = Math.sin(angle);
    }

    for (let head = 0; head < numHeads; head++) {
      const chunks = plan.chunks[Math.floor(head / groupSize)];
      const base = queryRow + head * headDim;
      for (let m = 0; m < r; m++) {
        const j = chunks[m];
        const a = data[base + j];
        const b = data[base + j + half];
        data[base + j] = a * this.cosines[j] - b * this.sines[j];
        data[base + j + half] = a * this.sines[j] + b * this.cosines[j];
      }
    }

    for (let kvHead = 0; kvHead < numKvHeads; kvHead++) {
      const chunks = plan.chunks[kvHead];
      const base = ropeKeyRow + kvHead * 2 * r;
      for (let m = 0; m < r; m++) {
        const j = chunks[m];
        const a = data[base + m];
        const b = data[base + m + r];
        data[base + m] = a * this.cosines[j] - b * this.sines[j];
        data[base + m + r] = a * this.sines[j] + b * this.cosines[j];
      }
    }
  }

  /**
   * Writes the pre-rotation key of every KV head into captured row `row` of `keys` ([tokens,
   * numKvHeads, headDim]): the elite dims come from the projected rope keys, the nope dims are rebuilt
   * as W_uk[g] c from the latent. Runs only for captured layers, never for attention.
   */
  private reconstructKey(plan: EliteLayerPlan, keyUpOffset: number, ropeKeyRow: number, latentRow: number, keys: Float32Array, row: number): void {
    const { numKvHeads, headDim } = this.config;
    const data = this.scratch.data;
    const weights = this.arena.data;
    const ropeWidth = 2 * this.ropeChunks;
    const nopeWidth = headDim - ropeWidth;
    const latentDim = plan.latentDim;

    for (let kvHead = 0; kvHead < numKvHeads; kvHead++) {
      const target = (row * numKvHeads + kvHead) * headDim;
      const ropeDims = plan.ropeDims[kvHead];
      const nopeDims = plan.nopeDims[kvHead];
      for (let m = 0; m < ropeWidth; m++) keys[target + ropeDims[m]] = data[ropeKeyRow + kvHead * ropeWidth + m];
      for (let n = 0; n < nopeWidth; n++) {
        const weightRow = keyUpOffset + (kvHead * nopeWidth + n) * latentDim;
        let value = 0;
        for (let c = 0; c < latentDim; c++) value += weights[weightRow + c] * data[latentRow + c];
        keys[target + nopeDims[n]] = value;
      }
    }
  }
}
