// The LLaMA decoder forward pass over a chunk of consecutive tokens: RMSNorm, fused q/k/v projection,
// RoPE in the "half" layout, cached causal GQA attention, output projection, SwiGLU FFN, and the output
// head. The residual stream stays in float64 on the main thread; matmul inputs and outputs are float32
// buffers shared with the workers.
import { ropeInverseFrequencies, type ModelConfig } from "@elitekv/core";

import type { FullKvCache } from "./full-kv-cache.js";
import { parallelAttention, parallelMatmul, type AttentionScratch } from "./parallel-ops.js";
import type { SharedBufferHandle, ThreadPool } from "./thread-pool.js";
import type { WeightArena } from "./weight-arena.js";

/** Logits rows a chunk computes: none, its last row, or all its rows. */
export type ChunkLogits = "none" | "last" | "all";

/** Pre-rotation queries and keys of the captured layers, for all tokens of one prefill call. */
export interface CaptureBuffers {
  /** Layer → [tokens, numHeads, headDim]. */
  queries: Map<number, Float32Array>;
  /** Layer → [tokens, numKvHeads, headDim]. */
  keys: Map<number, Float32Array>;
}

/** Element offsets of the per-chunk activations inside the scratch buffer. */
interface ScratchLayout {
  normed: number;
  queryKeyValue: number;
  attention: number;
  projection: number;
  gateUp: number;
  activation: number;
  logits: number;
  total: number;
}

export class LlamaForward {
  /** Maximum tokens per chunk. Longer prefills run chunk by chunk. */
  readonly chunkTokens: number;
  private readonly config: ModelConfig;
  private readonly arena: WeightArena;
  private readonly weights: SharedBufferHandle;
  private readonly cache: FullKvCache;
  private readonly pool: ThreadPool;
  private readonly participants: number;
  private readonly scratch: SharedBufferHandle;
  private readonly layout: ScratchLayout;
  private readonly residual: Float64Array;
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
    this.config = config;
    this.arena = arena;
    this.weights = weights;
    this.cache = cache;
    this.pool = pool;
    this.participants = participants;
    this.chunkTokens = chunkTokens;
    this.fusedWidth = (config.numHeads + 2 * config.numKvHeads) * config.headDim;

    const { hiddenSize, intermediateSize, vocabSize, numHeads, headDim } = config;
    const sizes = {
      normed: chunkTokens * hiddenSize,
      queryKeyValue: chunkTokens * this.fusedWidth,
      attention: chunkTokens * numHeads * headDim,
      projection: chunkTokens * hiddenSize,
      gateUp: chunkTokens * 2 * intermediateSize,
      activation: chunkTokens * intermediateSize,
      logits: chunkTokens * vocabSize,
    };
    let cursor = 0;
    const offsets = {} as Record<keyof typeof sizes, number>;
    for (const key of Object.keys(sizes) as Array<keyof typeof sizes>) {
      offsets[key] = cursor;
      cursor += sizes[key];
    }
    this.layout = { ...offsets, total: cursor };
    this.scratch = pool.registerBuffer(new SharedArrayBuffer(cursor * Float32Array.BYTES_PER_ELEMENT));

    this.residual = new Float64Array(chunkTokens * hiddenSize);
    this.inverseFrequencies = ropeInverseFrequencies(config.rope);
    this.cosines = new Float64Array(headDim / 2);
    this.sines = new Float64Array(headDim / 2);
    this.attentionScratch = { scores: new Float64Array(cache.capacity), accumulator: new Float64Array(headDim) };
  }

  /** Unregisters the scratch buffer from the pool's workers. */
  release(): void {
    this.pool.releaseBuffer(this.scratch);
  }

  /**
   * Runs tokens ids[0 .. count) at positions startPosition .. startPosition + count - 1, writing their
   * keys and values into the cache. Returns a view of the scratch logits ([1 or count, vocabSize]),
   * valid until the next call, or undefined when `logits` is "none". Captured q/k rows go to
   * `capture` from row `captureRow`.
   */
  async runChunk(
    ids: readonly number[],
    count: number,
    startPosition: number,
    logits: ChunkLogits,
    capture: CaptureBuffers | undefined,
    captureRow: number,
  ): Promise<Float32Array | undefined> {
    const hiddenSize = this.config.hiddenSize;
    const weights = this.arena.data;
    for (let t = 0; t < count; t++) {
      const from = this.arena.tokenEmbedding + ids[t] * hiddenSize;
      for (let i = 0; i < hiddenSize; i++) this.residual[t * hiddenSize + i] = weights[from + i];
    }

    for (let layer = 0; layer < this.config.numLayers; layer++) {
      await this.runAttentionBlock(layer, count, startPosition, capture, captureRow);
      await this.runFeedForwardBlock(layer, count);
    }

    if (logits === "none") return undefined;
    return this.runOutputHead(count, logits);
  }

  private async runAttentionBlock(
    layer: number,
    count: number,
    startPosition: number,
    capture: CaptureBuffers | undefined,
    captureRow: number,
  ): Promise<void> {
    const { hiddenSize, numHeads, numKvHeads, headDim } = this.config;
    const offsets = this.arena.layers[layer];
    const scratch = this.scratch.data;
    const width = this.fusedWidth;
    const qkv = this.layout.queryKeyValue;

    this.normalizeRows(count, offsets.attentionNorm);
    await parallelMatmul(
      this.pool,
      this.participants,
      { handle: this.scratch, offset: qkv },
      { handle: this.scratch, offset: this.layout.normed },
      { handle: this.weights, offset: offsets.queryKeyValue },
      count,
      hiddenSize,
      width,
    );

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

    await parallelMatmul(
      this.pool,
      this.participants,
      { handle: this.scratch, offset: this.layout.projection },
      { handle: this.scratch, offset: this.layout.attention },
      { handle: this.weights, offset: offsets.output },
      count,
      queryWidth,
      hiddenSize,
    );
    this.addProjectionToResidual(count);
  }

  private async runFeedForwardBlock(layer: number, count: number): Promise<void> {
    const { hiddenSize, intermediateSize } = this.config;
    const offsets = this.arena.layers[layer];
    const scratch = this.scratch.data;

    this.normalizeRows(count, offsets.ffnNorm);
    await parallelMatmul(
      this.pool,
      this.participants,
      { handle: this.scratch, offset: this.layout.gateUp },
      { handle: this.scratch, offset: this.layout.normed },
      { handle: this.weights, offset: offsets.gateUp },
      count,
      hiddenSize,
      2 * intermediateSize,
    );

    // SwiGLU: silu(gate) * up, with silu(g) = g / (1 + e^-g).
    for (let t = 0; t < count; t++) {
      const gate = this.layout.gateUp + t * 2 * intermediateSize;
      const up = gate + intermediateSize;
      const out = this.layout.activation + t * intermediateSize;
      for (let i = 0; i < intermediateSize; i++) {
        const g = scratch[gate + i];
        scratch[out + i] = (g / (1 + Math.exp(-g))) * scratch[up + i];
      }
    }

    await parallelMatmul(
      this.pool,
      this.participants,
      { handle: this.scratch, offset: this.layout.projection },
      { handle: this.scratch, offset: this.layout.activation },
      { handle: this.weights, offset: offsets.down },
      count,
      intermediateSize,
      hiddenSize,
    );
    this.addProjectionToResidual(count);
  }

  private async runOutputHead(count: number, logits: "last" | "all"): Promise<Float32Array> {
    const { hiddenSize, vocabSize } = this.config;
    const firstRow = logits === "last" ? count - 1 : 0;
    const rows = count - firstRow;

    this.normalizeRows(rows, this.arena.finalNorm, firstRow);
    await parallelMatmul(
      this.pool,
      this.participants,
      { handle: this.scratch, offset: this.layout.logits },
      { handle: this.scratch, offset: this.layout.normed },
      { handle: this.weights, offset: this.arena.outputHead },
      rows,
      hiddenSize,
      vocabSize,
    );
    return this.scratch.data.subarray(this.layout.logits, this.layout.logits + rows * vocabSize);
  }

  /**
   * Writes RMSNorm(residual rows firstRow .. firstRow + rows - 1) · weight into the normed scratch rows
   * 0 .. rows - 1, in float64 until the final store.
   */
  private normalizeRows(rows: number, weightOffset: number, firstRow = 0): void {
    const { hiddenSize, rmsNormEps } = this.config;
    const weights = this.arena.data;
    const scratch = this.scratch.data;
    for (let r = 0; r < rows; r++) {
      const from = (firstRow + r) * hiddenSize;
      let sumSquares = 0;
      for (let i = 0; i < hiddenSize; i++) sumSquares += this.residual[from + i] * this.residual[from + i];
      const scale = 1 / Math.sqrt(sumSquares / hiddenSize + rmsNormEps);
      const to = this.layout.normed + r * hiddenSize;
      for (let i = 0; i < hiddenSize; i++) scratch[to + i] = this.residual[from + i] * scale * weights[weightOffset + i];
    }
  }

  private addProjectionToResidual(count: number): void {
    const values = count * this.config.hiddenSize;
    const scratch = this.scratch.data;
    const projection = this.layout.projection;
    for (let i = 0; i < values; i++) this.residual[i] += scratch[projection + i];
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
