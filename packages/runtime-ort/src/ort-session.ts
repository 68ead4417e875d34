// An inference session of the ORT backend: validates each call, splits prefills into chunks, feeds the
// cached positions to the decoder graph as views and lets ORT write each chunk's keys and values
// straight into the cache through preallocated outputs.
import {
  BackendFailureError,
  ContextOverflowError,
  validateForwardRequest,
  ropeInverseFrequencies,
  type CaptureEvent,
  type ForwardOptions,
  type InferenceSession,
  type Logits,
  type LoadedModel,
  type ModelConfig,
} from "@elitekv/core";
import ort from "onnxruntime-node";

import { graphInputs, graphOutputs } from "./graph/graph-names.js";
import { OrtKvCache } from "./ort-kv-cache.js";

export interface OrtSessionParts {
  model: LoadedModel;
  runtime: ort.InferenceSession;
  capacity: number;
  chunkTokens: number;
}

export class OrtSession implements InferenceSession {
  readonly config: ModelConfig;
  readonly cache: OrtKvCache;
  private readonly model: LoadedModel;
  private readonly runtime: ort.InferenceSession;
  private readonly chunkTokens: number;
  private readonly inverseFrequencies: Float64Array;
  private queue: Promise<unknown> = Promise.resolve();
  /** Incremented by reset(), so that a pass started before a reset does not restore the old length. */
  private resetCount = 0;
  private disposed = false;

  constructor(parts: OrtSessionParts) {
    this.model = parts.model;
    this.config = parts.model.config;
    this.runtime = parts.runtime;
    this.chunkTokens = parts.chunkTokens;
    this.cache = new OrtKvCache(this.config, parts.model.elite, parts.capacity);
    this.inverseFrequencies = ropeInverseFrequencies(this.config.rope);
  }

  get position(): number {
    return this.cache.length;
  }

  async prefill(ids: readonly number[], options: ForwardOptions = {}): Promise<Logits> {
    this.assertOpen();
    const { tokens, logits, capturedLayers } = validateForwardRequest(this.config, ids, options);

    return this.exclusive(async () => {
      this.assertOpen();
      const startPosition = this.cache.length;
      if (startPosition + tokens.length > this.cache.capacity) {
        throw new ContextOverflowError(startPosition + tokens.length, this.cache.capacity);
      }

      const resetCount = this.resetCount;
      const events: CaptureEvent[] = [];
      const vocabSize = this.config.vocabSize;
      const all = logits === "all" ? new Float32Array(tokens.length * vocabSize) : undefined;
      let last: Float32Array | undefined;

      for (let offset = 0; offset < tokens.length; offset += this.chunkTokens) {
        const chunk = tokens.slice(offset, offset + this.chunkTokens);
        const isLast = offset + chunk.length === tokens.length;
        // Logits rows of this chunk: all of them, or only the last row of the last chunk.
        let rows = 0;
        if (logits === "all") rows = chunk.length;
        else if (isLast) rows = 1;
        const result = await this.runChunk(chunk, startPosition + offset, rows, capturedLayers, options.capture?.attentionInput === true);
        if (this.resetCount === resetCount) this.cache.setLength(startPosition + offset + chunk.length);

        if (all !== undefined && result.logits !== undefined) all.set(result.logits, offset * vocabSize);
        if (isLast && logits === "last") last = result.logits;
        events.push(...result.events);
      }

      // Callbacks run after the cache length advanced: one that throws rejects this call, but the
      // tokens stay cached.
      for (const event of events) options.capture!.onCapture(event);
      if (all !== undefined) return { rows: tokens.length, vocabSize, data: all };
      return { rows: 1, vocabSize, data: last! };
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
    await this.exclusive(() => this.runtime.release());
  }

  private async runChunk(
    ids: readonly number[],
    start: number,
    rows: number,
    capturedLayers: readonly number[],
    captureInputs: boolean,
  ): Promise<{ logits: Float32Array | undefined; events: CaptureEvent[] }> {
    const { numLayers, numKvHeads, headDim, hiddenSize, numHeads, vocabSize } = this.config;
    const tokens = ids.length;
    const feeds: Record<string, ort.Tensor> = {};
    const fetches: Record<string, ort.Tensor | null> = {};

    // Step 1: ids, RoPE angles of the absolute positions, the causal mask and the logit rows.
    feeds[graphInputs.ids] = new ort.Tensor("int64", BigInt64Array.from(ids, (id) => BigInt(id)), [tokens]);
    const { cos, sin } = this.ropeTables(start, tokens);
    feeds[graphInputs.cos] = new ort.Tensor("float32", cos, [tokens, headDim / 2]);
    feeds[graphInputs.sin] = new ort.Tensor("float32", sin, [tokens, headDim / 2]);
    feeds[graphInputs.causalMask] = new ort.Tensor("float32", causalMask(tokens), [tokens, tokens]);
    const rowIds = new BigInt64Array(rows);
    for (let row = 0; row < rows; row++) rowIds[row] = BigInt(tokens - rows + row);
    feeds[graphInputs.logitRows] = new ort.Tensor("int64", rowIds, [rows]);

    // Step 2: the cached positions as views, and this chunk's slots of the cache as outputs.
    for (let layer = 0; layer < numLayers; layer++) this.bindCache(layer, start, tokens, feeds, fetches);

    if (rows > 0) fetches[graphOutputs.logits] = null;
    for (const layer of capturedLayers) {
      fetches[graphOutputs.captureQuery(layer)] = new ort.Tensor("float32", new Float32Array(tokens * numHeads * headDim), [tokens, numHeads, headDim]);
      fetches[graphOutputs.captureKey(layer)] = new ort.Tensor("float32", new Float32Array(tokens * numKvHeads * headDim), [tokens, numKvHeads, headDim]);
      if (captureInputs) {
        fetches[graphOutputs.captureInput(layer)] = new ort.Tensor("float32", new Float32Array(tokens * hiddenSize), [tokens, hiddenSize]);
      }
    }

    // Step 3: run, then check the logits' shape.
    let outputs: ort.InferenceSession.ReturnType;
    try {
      outputs = await this.runtime.run(feeds, fetches);
    } catch (error) {
      throw new BackendFailureError(`onnxruntime failed on a chunk of ${tokens} tokens at position ${start}: ${(error as Error).message}`, {
        cause: error,
      });
    }

    let logits: Float32Array | undefined;
    if (rows > 0) {
      const output = outputs[graphOutputs.logits];
      if (output.dims[0] !== rows || output.dims[1] !== vocabSize) {
        throw new BackendFailureError(`onnxruntime returned logits [${output.dims.join(", ")}], expected [${rows}, ${vocabSize}]`);
      }
      logits = output.data as Float32Array;
    }

    const events: CaptureEvent[] = capturedLayers.map((layer) => {
      const event: CaptureEvent = {
        layer,
        startPosition: start,
        tokens,
        query: fetches[graphOutputs.captureQuery(layer)]!.data as Float32Array,
        key: fetches[graphOutputs.captureKey(layer)]!.data as Float32Array,
      };
      if (captureInputs) event.attentionInput = fetches[graphOutputs.captureInput(layer)]!.data as Float32Array;
      return event;
    });
    return { logits, events };
  }

  private bindCache(layer: number, start: number, tokens: number, feeds: Record<string, ort.Tensor>, fetches: Record<string, ort.Tensor | null>): void {
    const { cache } = this;
    const { keyWidth, valueWidth } = cache.layers[layer];
    const view = (data: Float32Array, width: number, length: number) => new ort.Tensor("float32", data, [length, width]);

    for (let kvHead = 0; kvHead < this.config.numKvHeads; kvHead++) {
      if (this.model.elite === undefined) {
        feeds[graphInputs.pastKey(layer, kvHead)] = view(cache.pastKeys(layer, kvHead, start), keyWidth, start);
        feeds[graphInputs.pastValue(layer, kvHead)] = view(cache.pastValues(layer, kvHead, start), valueWidth, start);
        fetches[graphOutputs.presentKey(layer, kvHead)] = view(cache.newKeys(layer, kvHead, start, tokens), keyWidth, tokens);
        fetches[graphOutputs.presentValue(layer, kvHead)] = view(cache.newValues(layer, kvHead, start, tokens), valueWidth, tokens);
      } else if (keyWidth > 0) {
        feeds[graphInputs.pastRopeKey(layer, kvHead)] = view(cache.pastKeys(layer, kvHead, start), keyWidth, start);
        fetches[graphOutputs.presentRopeKey(layer, kvHead)] = view(cache.newKeys(layer, kvHead, start, tokens), keyWidth, tokens);
      }
    }
    if (this.model.elite !== undefined) {
      feeds[graphInputs.pastLatent(layer)] = view(cache.pastValues(layer, 0, start), valueWidth, start);
      fetches[graphOutputs.presentLatent(layer)] = view(cache.newValues(layer, 0, start, tokens), valueWidth, tokens);
    }
  }

  /** cos and sin of position · θ_j for positions start .. start + tokens − 1, computed in float64. */
  private ropeTables(start: number, tokens: number): { cos: Float32Array; sin: Float32Array } {
    const half = this.inverseFrequencies.length;
    const cos = new Float32Array(tokens * half);
    const sin = new Float32Array(tokens * half);
    for (let t = 0; t < tokens; t++) {
      for (let j = 0; j < half; j++) {
        const angle = (start + t) * this.inverseFrequencies[j];
        cos[t * half + j] = Math.cos(angle);
        sin[t * half + j] = Math.sin(angle);
      }
    }
    return { cos, sin };
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private assertOpen(): void {
    if (this.disposed) throw new BackendFailureError("the session was disposed; create a new session");
  }
}

/** [tokens, tokens]: 0 on and below the diagonal, −∞ above it. */
function causalMask(tokens: number): Float32Array {
  const mask = new Float32Array(tokens * tokens);
  for (let row = 0; row < tokens; row++) mask.fill(-Infinity, row * tokens + row + 1, (row + 1) * tokens);
  return mask;
}
