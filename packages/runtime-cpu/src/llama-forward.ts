// The attention block of the LLaMA decoder over the full KV cache: fused q/k/v projection, RoPE in
// the "half" layout, cached causal GQA attention and the output projection. The rest of the forward
// pass is in DecoderForward.
import { ropeInverseFrequencies, type ModelConfig } from "@elitekv/core";

import { DecoderForward, type CaptureBuffers } from "./decoder-forward.js";
import type { FullKvCache } from "./full-kv-cache.js";
import { parallelAttention, type AttentionScratch } from "./parallel-ops.js";
import type { SharedBufferHandle, ThreadPool } from "./thread-pool.js";
import type { WeightArena } from "./weight-arena.js";

export type { CaptureBuffers, ChunkLogits } from "./decoder-forward.js";

export class LlamaForward extends DecoderForward {
  private readonly cache: FullKvCache;
  private readonly inverseFrequencies: Float64Array;
  private readonly cosines: Float64Array;
  private readonly sines: Float64Array;
  private readonly attentionScratch: AttentionScratch;
  /** Width of a fused q/k/v row: (numHeads + 2 * numKvHeads) * headDim. */
  private readonly fusedWidth: number;

  constructor(
    config: ModelConfig,
    arena: WeightArena,
    weights: SharedBufferHandle,
    cache: FullKvCache,
    pool: ThreadPool,
    participants: number,
    chunkTokens: number,
  ) {
    const fusedWidth = (config.numHeads + 2 * config.numKvHeads) * config.headDim;
    super(config, arena, weights, pool, participants, chunkTokens, fusedWidth);
    this.fusedWidth = fusedWidth;
    this.cache = cache;

    const headDim = config.headDim;
    this.inverseFrequencies = ropeInverseFrequencies(config.rope);
    this.cosines = new Float64Array(headDim / 2);
    this.sines = new Float64Array(headDim / 2);
    this.attentionScratch = { scores: new Float64Array(cache.capacity), accumulator: new Float64Array(headDim) };
  }

  protected async runAttentionBlock(
    layer: number,
    count: number,
    startPosition: number,
    capture: CaptureBuffers | undefined,
    captureRow: number,
  ): Promise<void> {
    const { numHeads, numKvHeads, headDim } = this.config;
    const scratch = this.scratch.data;
    const width = this.fusedWidth;
    const qkv = this.layout.queryKeyValue;

    await this.projectAttentionInput(layer, count, width, capture, captureRow);

    const queryWidth = numHeads * headDim;
    const keyWidth = numKvHeads * headDim;
    const queries = capture?.queries.get(layer);
    const keys = capture?.keys.get(layer);
    for (let t = 0; t < count; t++) {
      const row = qkv + t * width;
      if (queries !== undefined && keys !== undefined) {
        queries.set(scratch.subarray(row, row + queryWidth), (captureRow + t) * queryWidth);
        keys.set(scratch.subarray(row + queryWidth, row + queryWidth + keyWidth), (captureRow + t) * keyWidth);
      }

      // Queries and keys are adjacent in the fused row, so one pass rotates numHeads + numKvHeads heads.
      this.rotateHeads(scratch, row, numHeads + numKvHeads, startPosition + t);
      this.cache.writeToken(layer, startPosition + t, scratch, row + queryWidth, row + queryWidth + keyWidth);
    }

    const cacheBuffer = this.cache.layers[layer];
    await parallelAttention(
      this.pool,
      this.participants,
      this.scratch,
      cacheBuffer,
      this.scratch,
      {
        queryOffset: qkv,
        queryStride: width,
        keyOffset: 0,
        valueOffset: this.cache.valueOffset,
        outputOffset: this.layout.attention,
        tokens: count,
        startPosition,
        numHeads,
        numKvHeads,
        headDim,
        capacity: this.cache.capacity,
      },
      this.attentionScratch,
    );

    await this.addOutputProjection(layer, count);
  }

  /**
   * Rotates `heads` consecutive head vectors starting at `offset` by `position` in the "half" layout:
   * chunk j pairs dims (j, j + h/2) and turns by position * theta_j, with the phase built in float64.
   */
  private rotateHeads(data: Float32Array, offset: number, heads: number, position: number): void {
    const headDim = this.config.headDim;
    const half = headDim / 2;
    for (let j = 0; j < half; j++) {
      const angle = position * this.inverseFrequencies[j];
      this.cosines[j] = Math.cos(angle);
      this.sines[j] = Math.sin(angle);
    }

    for (let head = 0; head < heads; head++) {
      const base = offset + head * headDim;
      for (let j = 0; j < half; j++) {
        const a = data[base + j];
        const b = data[base + j + half];
        data[base + j] = a * this.cosines[j] - b * this.sines[j];
        data[base + j + half] = a * this.sines[j] + b * this.cosines[j];
      }
    }
  }
}
