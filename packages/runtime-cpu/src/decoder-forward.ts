// The parts of the LLaMA decoder forward pass that do not depend on the KV cache layout: token
// embedding, RMSNorm, the SwiGLU FFN block, the output head and the attention-input capture. The
// residual stream stays in float64 on the main thread; matmul inputs and outputs are float32 buffers
// shared with the workers. Subclasses own the attention block and its cache.
import type { ModelConfig } from "@elitekv/core";

import { parallelMatmul } from "./parallel-ops.js";
import type { SharedBufferHandle, ThreadPool } from "./thread-pool.js";
import type { WeightArena } from "./weight-arena.js";

/** Logits rows a chunk computes: none, its last row, or all its rows. */
export type ChunkLogits = "none" | "last" | "all";

/** Captured tensors of the captured layers, for all tokens of one prefill call. */
export interface CaptureBuffers {
  /** Layer → [tokens, numHeads, headDim], before RoPE. */
  queries: Map<number, Float32Array>;
  /** Layer → [tokens, numKvHeads, headDim], before RoPE. */
  keys: Map<number, Float32Array>;
  /** Layer → [tokens, hiddenSize], the RMSNorm output that feeds the layer's projections. */
  attentionInputs?: Map<number, Float32Array>;
}

/** Element offsets of the per-chunk activations inside the scratch buffer. */
export interface ScratchLayout {
  normed: number;
  queryKeyValue: number;
  attention: number;
  projection: number;
  gateUp: number;
  activation: number;
  logits: number;
  total: number;
}

export abstract class DecoderForward {
  /** Maximum tokens per chunk. Longer prefills run chunk by chunk. */
  readonly chunkTokens: number;
  protected readonly config: ModelConfig;
  protected readonly arena: WeightArena;
  protected readonly weights: SharedBufferHandle;
  protected readonly pool: ThreadPool;
  protected readonly participants: number;
  protected readonly scratch: SharedBufferHandle;
  protected readonly layout: ScratchLayout;
  protected readonly residual: Float64Array;

  /**
   * `projectionWidth` is the widest row of a layer's fused attention input projection, which sizes
   * the queryKeyValue scratch rows.
   */
  constructor(
    config: ModelConfig,
    arena: WeightArena,
    weights: SharedBufferHandle,
    pool: ThreadPool,
    participants: number,
    chunkTokens: number,
    projectionWidth: number,
  ) {
    this.config = config;
    this.arena = arena;
    this.weights = weights;
    this.pool = pool;
    this.participants = participants;
    this.chunkTokens = chunkTokens;

    const { hiddenSize, intermediateSize, vocabSize, numHeads, headDim } = config;
    const sizes = {
      normed: chunkTokens * hiddenSize,
      queryKeyValue: chunkTokens * projectionWidth,
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
  }

  /** Unregisters the scratch buffer from the pool's workers. */
  release(): void {
    this.pool.releaseBuffer(this.scratch);
  }

  /**
   * Runs tokens ids[0 .. count) at positions startPosition .. startPosition + count - 1, writing their
   * cache entries. Returns a view of the scratch logits ([1 or count, vocabSize]), valid until the next
   * call, or undefined when `logits` is "none". Captured rows go to `capture` from row `captureRow`.
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

  /** Adds the attention block of `layer` to the residual and writes the chunk's cache entries. */
  protected abstract runAttentionBlock(
    layer: number,
    count: number,
    startPosition: number,
    capture: CaptureBuffers | undefined,
    captureRow: number,
  ): Promise<void>;

  /**
   * Writes the layer's attention input (RMSNorm of the residual rows) into the normed scratch rows, and
   * copies it to `capture` when the caller asked for attention inputs of this layer.
   */
  protected normalizeAttentionInput(layer: number, count: number, capture: CaptureBuffers | undefined, captureRow: number): void {
    const hiddenSize = this.config.hiddenSize;
    this.normalizeRows(count, this.arena.layers[layer].attentionNorm);

    const target = capture?.attentionInputs?.get(layer);
    if (target === undefined) return;
    const normed = this.layout.normed;
    target.set(this.scratch.data.subarray(normed, normed + count * hiddenSize), captureRow * hiddenSize);
  }

  /**
   * Normalises the layer's attention input and projects it through the layer's fused q/k/v (or q/rope
   * key/latent) weight of `width` output rows into the queryKeyValue scratch rows.
   */
  protected async projectAttentionInput(
    layer: number,
    count: number,
    width: number,
    capture: CaptureBuffers | undefined,
    captureRow: number,
  ): Promise<void> {
    this.normalizeAttentionInput(layer, count, capture, captureRow);
    await parallelMatmul(
      this.pool,
      this.participants,
      { handle: this.scratch, offset: this.layout.queryKeyValue },
      { handle: this.scratch, offset: this.layout.normed },
      { handle: this.weights, offset: this.arena.layers[layer].queryKeyValue },
      count,
      this.config.hiddenSize,
      width,
    );
  }

  /** Projects the attention output rows through wo and adds them to the residual. */
  protected async addOutputProjection(layer: number, count: number): Promise<void> {
    const { hiddenSize, numHeads, headDim } = this.config;
    await parallelMatmul(
      this.pool,
      this.participants,
      { handle: this.scratch, offset: this.layout.projection },
      { handle: this.scratch, offset: this.layout.attention },
      { handle: this.weights, offset: this.arena.layers[layer].output },
      count,
      numHeads * headDim,
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
}
