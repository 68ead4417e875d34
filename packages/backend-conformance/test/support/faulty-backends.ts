// Backends that wrap the CPU backend and inject one known fault each, so that the tests can show which
// check catches it. A wrapper session forwards everything to the CPU session except what it overrides.
import {
  ContextOverflowError,
  type Backend,
  type CaptureEvent,
  type CaptureOptions,
  type ForwardOptions,
  type InferenceSession,
  type KvCache,
  type LoadedModel,
  type Logits,
  type ModelConfig,
  type SessionOptions,
} from "@elitekv/core";

/** A session that forwards every call to `inner`. Subclasses override one behaviour. */
export class ForwardingSession implements InferenceSession {
  protected readonly inner: InferenceSession;
  protected readonly model: LoadedModel;

  constructor(inner: InferenceSession, model: LoadedModel) {
    this.inner = inner;
    this.model = model;
  }

  get config(): ModelConfig {
    return this.inner.config;
  }

  get cache(): KvCache {
    return this.inner.cache;
  }

  get position(): number {
    return this.inner.position;
  }

  prefill(ids: readonly number[], options?: ForwardOptions): Promise<Logits> {
    return this.inner.prefill(ids, options);
  }

  decode(id: number, options?: Omit<ForwardOptions, "logits">): Promise<Logits> {
    return this.inner.decode(id, options);
  }

  reset(): void {
    this.inner.reset();
  }

  dispose(): Promise<void> {
    return this.inner.dispose();
  }
}

/** Returns a backend whose sessions are `inner`'s sessions wrapped by `wrap`. */
export function wrapBackend(inner: Backend, name: string, wrap: (session: InferenceSession, model: LoadedModel) => InferenceSession): Backend {
  return {
    name,
    createSession: async (model: LoadedModel, options?: SessionOptions) => wrap(await inner.createSession(model, options), model),
    dispose: () => inner.dispose(),
  };
}

/** Adds `offset` to logit `index` of every returned row. With `eliteOnly`, only EliteKV models are changed. */
export class PerturbedLogitsSession extends ForwardingSession {
  constructor(inner: InferenceSession, model: LoadedModel, private readonly offset: number, private readonly index: number, private readonly eliteOnly = false) {
    super(inner, model);
  }

  override async prefill(ids: readonly number[], options?: ForwardOptions): Promise<Logits> {
    return this.perturb(await this.inner.prefill(ids, options));
  }

  override async decode(id: number, options?: Omit<ForwardOptions, "logits">): Promise<Logits> {
    return this.perturb(await this.inner.decode(id, options));
  }

  private perturb(logits: Logits): Logits {
    if (this.eliteOnly && this.model.elite === undefined) return logits;
    const data = Float32Array.from(logits.data);
    for (let row = 0; row < logits.rows; row++) data[row * logits.vocabSize + this.index] += this.offset;
    return { ...logits, data };
  }
}

/**
 * Caches the first decoded token twice, so every later decode runs one position too far, while
 * session.position hides the extra token.
 */
export class ShiftedDecodeSession extends ForwardingSession {
  private extraTokens = 0;

  override get position(): number {
    return this.inner.position - this.extraTokens;
  }

  override async decode(id: number, options?: Omit<ForwardOptions, "logits">): Promise<Logits> {
    if (this.extraTokens === 0) {
      await this.inner.prefill([id]);
      this.extraTokens = 1;
    }
    return this.inner.decode(id, options);
  }

  override reset(): void {
    this.extraTokens = 0;
    this.inner.reset();
  }
}

/**
 * Runs a prefill on a non-empty cache as a new sequence from position 0, the usual position-offset bug,
 * while session.position still counts the earlier tokens.
 */
export class RestartingPrefillSession extends ForwardingSession {
  private forgotten = 0;

  override get position(): number {
    return this.inner.position + this.forgotten;
  }

  override prefill(ids: readonly number[], options?: ForwardOptions): Promise<Logits> {
    if (this.inner.position > 0 && ids.length > 1) {
      this.forgotten += this.inner.position;
      this.inner.reset();
    }
    return this.inner.prefill(ids, options);
  }

  override reset(): void {
    this.forgotten = 0;
    this.inner.reset();
  }
}

/** Rethrows ContextOverflowError as a plain Error, like a backend that raises untyped errors. */
export class UntypedOverflowSession extends ForwardingSession {
  override prefill(ids: readonly number[], options?: ForwardOptions): Promise<Logits> {
    return this.inner.prefill(ids, options).catch((error: unknown) => {
      if (error instanceof ContextOverflowError) throw new Error(error.message);
      throw error;
    });
  }

  override decode(id: number, options?: Omit<ForwardOptions, "logits">): Promise<Logits> {
    return this.inner.decode(id, options).catch((error: unknown) => {
      if (error instanceof ContextOverflowError) throw new Error(error.message);
      throw error;
    });
  }
}

/** Replaces ids outside the vocabulary by 0 instead of rejecting them. */
export class ClampingIdsSession extends ForwardingSession {
  override prefill(ids: readonly number[], options?: ForwardOptions): Promise<Logits> {
    return this.inner.prefill(ids.map((id) => this.clamp(id)), options);
  }

  override decode(id: number, options?: Omit<ForwardOptions, "logits">): Promise<Logits> {
    return this.inner.decode(this.clamp(id), options);
  }

  private clamp(id: number): number {
    return Number.isInteger(id) && id >= 0 && id < this.config.vocabSize ? id : 0;
  }
}

/** Ignores reset(), so the cache keeps its tokens. */
export class IgnoredResetSession extends ForwardingSession {
  override reset(): void {}
}

/** Reports bytesPerToken and bytesUsed at half their value, as for an f16 cache, while the layout is f32. */
export class HalvedBytesPerTokenSession extends ForwardingSession {
  override get cache(): KvCache {
    const inner = this.inner.cache;
    return {
      layout: inner.layout,
      capacity: inner.capacity,
      bytesAllocated: inner.bytesAllocated,
      length: inner.length,
      bytesPerToken: inner.bytesPerToken / 2,
      bytesUsed: inner.bytesUsed / 2,
    };
  }
}

/** Rewrites every capture event through `transform`, which may deliver several events or none. */
export class CaptureRewritingSession extends ForwardingSession {
  constructor(inner: InferenceSession, model: LoadedModel, private readonly transform: (event: CaptureEvent) => CaptureEvent[]) {
    super(inner, model);
  }

  override prefill(ids: readonly number[], options?: ForwardOptions): Promise<Logits> {
    const capture = options?.capture;
    if (capture === undefined) return this.inner.prefill(ids, options);
    const rewritten: CaptureOptions = {
      ...capture,
      onCapture: (event) => {
        for (const delivered of this.transform(event)) capture.onCapture(delivered);
      },
    };
    return this.inner.prefill(ids, { ...options, capture: rewritten });
  }
}

/** Returns the positions start .. end − 1 of a capture event as a new event. */
export function sliceCaptureEvent(event: CaptureEvent, config: ModelConfig, start: number, end: number): CaptureEvent {
  const { numHeads, numKvHeads, headDim, hiddenSize } = config;
  const slice = (values: Float32Array, width: number) => values.slice(start * width, end * width);
  return {
    layer: event.layer,
    startPosition: event.startPosition + start,
    tokens: end - start,
    query: slice(event.query, numHeads * headDim),
    key: slice(event.key, numKvHeads * headDim),
    attentionInput: event.attentionInput === undefined ? undefined : slice(event.attentionInput, hiddenSize),
  };
}
