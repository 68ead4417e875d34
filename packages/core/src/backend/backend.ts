// The interface every backend implements. Analysis, evaluation and serving code talks only to these
// types, so they never need to know which backend runs.
import type { KvCache } from "../cache/kv-cache.js";
import type { LoadedModel } from "../model/loaded-model.js";
import type { ModelConfig } from "../model/model-config.js";

/** Logits, row-major [rows, vocabSize]. */
export interface Logits {
  rows: number;
  vocabSize: number;
  data: Float32Array;
}

/** Pre-rotation queries and keys of one layer for a run of consecutive positions. */
export interface CaptureEvent {
  layer: number;
  /** Absolute position of the first token. */
  startPosition: number;
  tokens: number;
  /** [tokens, numHeads, headDim], "half" RoPE layout, before rotation. */
  query: Float32Array;
  /** [tokens, numKvHeads, headDim], "half" RoPE layout, before rotation. */
  key: Float32Array;
  /**
   * [tokens, hiddenSize]: the RMS-normalised hidden states that feed the layer's q, k and v projections.
   * Present only when CaptureOptions.attentionInput is true.
   */
  attentionInput?: Float32Array;
}

export interface CaptureOptions {
  /** Layers to capture; all layers when omitted. */
  layers?: readonly number[];
  /** Also deliver each captured layer's attention input (for activation covariances). */
  attentionInput?: boolean;
  onCapture: (event: CaptureEvent) => void;
}

export interface ForwardOptions {
  /** "last" returns one row of logits; "all" returns a row per input token. Defaults to "last". */
  logits?: "last" | "all";
  capture?: CaptureOptions;
}

export interface SessionOptions {
  /** Tokens the cache is allocated for. Defaults to the model's maxPositionEmbeddings. */
  maxContext?: number;
  /** Worker threads for a backend that uses them; defaults to the backend's own choice. */
  threads?: number;
}

export interface InferenceSession {
  readonly config: ModelConfig;
  readonly cache: KvCache;
  /** Positions already in the cache; the next token is fed at this position. */
  readonly position: number;
  /** Runs a batch of tokens at positions position .. position + ids.length - 1 and caches them. */
  prefill(ids: readonly number[], options?: ForwardOptions): Promise<Logits>;
  /** Runs one token; the same as a prefill of length one. */
  decode(id: number, options?: Omit<ForwardOptions, "logits">): Promise<Logits>;
  /** Empties the cache; buffers stay allocated. */
  reset(): void;
  dispose(): Promise<void>;
}

export interface Backend {
  readonly name: string;
  createSession(model: LoadedModel, options?: SessionOptions): Promise<InferenceSession>;
  /** Releases shared resources such as worker threads. */
  dispose(): Promise<void>;
}
