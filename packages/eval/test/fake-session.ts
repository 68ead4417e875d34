// An InferenceSession with hand-checkable logits for protocol tests. The row for absolute position p
// favours token p mod vocabSize with logit ln 5 and gives every other token logit 0, so with a vocabulary
// of 4 the favoured token has probability 5/8 and every other token 1/8.
import {
  ContextOverflowError,
  fullCacheLayout,
  type ForwardOptions,
  type InferenceSession,
  type KvCache,
  type Logits,
  type ModelConfig,
} from "@elitekv/core";

export const favouredLogit = Math.log(5);

export interface FakeSessionOptions {
  vocabSize?: number;
  capacity?: number;
  /** Returns one row even when logits "all" is requested, like a backend without that mode. */
  ignoreAllLogits?: boolean;
  /** Puts NaN in the logits of this absolute position. */
  nanAtPosition?: number;
  /** Moves the favoured token of absolute position p to (p + shift(p)) mod vocabSize. Defaults to no shift. */
  favouredShift?: (position: number) => number;
}

export class FakeSession implements InferenceSession {
  readonly config: ModelConfig;
  readonly cache: KvCache;
  /** Every prefill call, in order, with the position it started at. */
  readonly prefills: Array<{ ids: number[]; startPosition: number; logits: ForwardOptions["logits"] }> = [];
  resets = 0;
  private length = 0;

  constructor(private readonly options: FakeSessionOptions = {}) {
    const vocabSize = options.vocabSize ?? 4;
    const capacity = options.capacity ?? 4;
    this.config = {
      architecture: "llama",
      hiddenSize: 8,
      intermediateSize: 16,
      numLayers: 1,
      numHeads: 2,
      numKvHeads: 2,
      headDim: 4,
      vocabSize,
      maxPositionEmbeddings: capacity,
      rmsNormEps: 1e-5,
      rope: { theta: 10000, scaling: { type: "none" }, rotaryDim: 4, sourceLayout: "half" },
      tieWordEmbeddings: false,
      bosTokenId: null,
      eosTokenIds: [],
    };
    const session = this;
    const layout = fullCacheLayout(this.config);
    this.cache = {
      layout,
      capacity,
      get length() {
        return session.length;
      },
      bytesAllocated: capacity * 64,
      bytesPerToken: 64,
      get bytesUsed() {
        return session.length * 64;
      },
    };
  }

  get position(): number {
    return this.length;
  }

  async prefill(ids: readonly number[], options: ForwardOptions = {}): Promise<Logits> {
    const startPosition = this.length;
    if (startPosition + ids.length > this.cache.capacity) {
      throw new ContextOverflowError(startPosition + ids.length, this.cache.capacity);
    }
    this.prefills.push({ ids: [...ids], startPosition, logits: options.logits });
    this.length += ids.length;

    const vocabSize = this.config.vocabSize;
    const allRows = options.logits === "all" && this.options.ignoreAllLogits !== true;
    const firstRow = allRows ? 0 : ids.length - 1;
    const rows = ids.length - firstRow;
    const data = new Float32Array(rows * vocabSize);
    for (let row = 0; row < rows; row++) {
      const position = startPosition + firstRow + row;
      const shift = this.options.favouredShift?.(position) ?? 0;
      data[row * vocabSize + ((position + shift) % vocabSize)] = favouredLogit;
      if (position === this.options.nanAtPosition) data[row * vocabSize] = Number.NaN;
    }
    return { rows, vocabSize, data };
  }

  async decode(id: number): Promise<Logits> {
    return this.prefill([id]);
  }

  reset(): void {
    this.resets++;
    this.length = 0;
  }

  async dispose(): Promise<void> {}
}
