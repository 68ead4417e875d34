// An inference session of the CPU backend: validates each call, splits prefills into chunks for the
// forward pass, tracks the cache length and delivers captured queries, keys and attention inputs. The
// same session runs base models (full KV cache) and converted models (EliteKV cache).
import {
  BackendFailureError,
  ContextOverflowError,
  validateForwardRequest,
  type CaptureEvent,
  type ForwardOptions,
  type InferenceSession,
  type KvCache,
  type Logits,
  type ModelConfig,
} from "@elitekv/core";

import type { CaptureBuffers, ChunkLogits, DecoderForward } from "./decoder-forward.js";

/** A cache whose length the session advances after each pass. */
export interface SessionCache extends KvCache {
  setLength(length: number): void;
}

/** The backend services a session uses. */
export interface SessionHost {
  /** Runs `task` after every forward pass queued before it, so passes never overlap on the pool. */
  exclusive<T>(task: () => Promise<T>): Promise<T>;
  /** Throws BackendFailureError once the backend is disposed. */
  assertUsable(): void;
}

export class CpuSession implements InferenceSession {
  readonly config: ModelConfig;
  readonly cache: SessionCache;
  private readonly host: SessionHost;
  private readonly forward: DecoderForward;
  private readonly releaseResources: () => void;
  /** Incremented by reset(), so that a pass started before a reset does not restore the old length. */
  private resetCount = 0;
  private disposed = false;

  constructor(host: SessionHost, config: ModelConfig, cache: SessionCache, forward: DecoderForward, releaseResources: () => void) {
    this.host = host;
    this.config = config;
    this.cache = cache;
    this.forward = forward;
    this.releaseResources = releaseResources;
  }

  get position(): number {
    return this.cache.length;
  }

  async prefill(ids: readonly number[], options: ForwardOptions = {}): Promise<Logits> {
    this.assertOpen();
    const { tokens, logits, capturedLayers } = validateForwardRequest(this.config, ids, options);
    const captureInputs = options.capture?.attentionInput === true;

    return this.host.exclusive(async () => {
      this.assertOpen();
      const startPosition = this.cache.length;
      if (startPosition + tokens.length > this.cache.capacity) {
        throw new ContextOverflowError(startPosition + tokens.length, this.cache.capacity);
      }

      const resetCount = this.resetCount;
      const result = await this.runChunks(tokens, startPosition, logits, capturedLayers, captureInputs);
      if (this.resetCount === resetCount) this.cache.setLength(startPosition + tokens.length);

      // Callbacks run after the cache length advanced: one that throws rejects this call, but the
      // tokens stay cached.
      if (options.capture !== undefined) {
        for (const layer of capturedLayers) {
          const event: CaptureEvent = {
            layer,
            startPosition,
            tokens: tokens.length,
            query: result.capture!.queries.get(layer)!,
            key: result.capture!.keys.get(layer)!,
          };
          if (captureInputs) event.attentionInput = result.capture!.attentionInputs!.get(layer)!;
          options.capture.onCapture(event);
        }
      }
      return result.logits;
    });
  }

  decode(id: number, options: Omit<ForwardOptions, "logits"> = {}): Promise<Logits> {
    return this.prefill([id], { capture: options.capture, logits: "last" });
  }

  reset(): void {
    this.resetCount++;
    this.cache.setLength(0);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    // Wait for passes already queued, which still read the buffers released here.
    await this.host.exclusive(async () => this.releaseResources());
  }

  private async runChunks(
    ids: readonly number[],
    startPosition: number,
    logits: "last" | "all",
    capturedLayers: readonly number[],
    captureInputs: boolean,
  ): Promise<{ logits: Logits; capture: CaptureBuffers | undefined }> {
    const { vocabSize, hiddenSize, numHeads, numKvHeads, headDim } = this.config;
    const total = ids.length;
    const output = new Float32Array((logits === "all" ? total : 1) * vocabSize);

    let capture: CaptureBuffers | undefined;
    if (capturedLayers.length > 0) {
      capture = { queries: new Map(), keys: new Map() };
      if (captureInputs) capture.attentionInputs = new Map();
      for (const layer of capturedLayers) {
        capture.queries.set(layer, new Float32Array(total * numHeads * headDim));
        capture.keys.set(layer, new Float32Array(total * numKvHeads * headDim));
        capture.attentionInputs?.set(layer, new Float32Array(total * hiddenSize));
      }
    }

    for (let chunkStart = 0; chunkStart < total; chunkStart += this.forward.chunkTokens) {
      const count = Math.min(this.forward.chunkTokens, total - chunkStart);
      let chunkLogits: ChunkLogits = "all";
      if (logits === "last") chunkLogits = chunkStart + count === total ? "last" : "none";
      const rows = await this.forward.runChunk(
        ids.slice(chunkStart, chunkStart + count),
        count,
        startPosition + chunkStart,
        chunkLogits,
        capture,
        chunkStart,
      );
      if (rows !== undefined) output.set(rows, logits === "all" ? chunkStart * vocabSize : 0);
    }

    return { logits: { rows: logits === "all" ? total : 1, vocabSize, data: output }, capture };
  }

  private assertOpen(): void {
    if (this.disposed) throw new BackendFailureError("the session was disposed; create a new session");
    this.host.assertUsable();
  }
}
