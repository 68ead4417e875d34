import {
  ContextOverflowError,
  InvalidArgumentError,
  Sampler,
  type InferenceSession,
  type KvCache,
  type Logits,
  type ModelConfig,
} from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { generateTokens } from "../src/generation/generate-tokens.js";

const vocabSize = 8;

/**
 * A session whose "model" always predicts (last id + 1) mod vocabSize, so every continuation is known.
 * It records each fed id and rejects feeding past its capacity, as a real cache would.
 */
class CountingSession implements InferenceSession {
  readonly config = { vocabSize } as ModelConfig;
  readonly cache: KvCache;
  readonly fed: number[] = [];

  constructor(capacity: number) {
    this.cache = {
      layout: { kind: "full", layers: 1, kvHeads: 1, headDim: 2, dtype: "f32" },
      capacity,
      length: 0,
      bytesAllocated: 0,
      bytesPerToken: 0,
      bytesUsed: 0,
    };
  }

  get position(): number {
    return this.fed.length;
  }

  async prefill(ids: readonly number[]): Promise<Logits> {
    if (this.fed.length + ids.length > this.cache.capacity) {
      throw new ContextOverflowError(this.fed.length + ids.length, this.cache.capacity);
    }
    this.fed.push(...ids);
    const data = new Float32Array(vocabSize);
    data[(ids[ids.length - 1] + 1) % vocabSize] = 10;
    return { rows: 1, vocabSize, data };
  }

  decode(id: number): Promise<Logits> {
    return this.prefill([id]);
  }

  reset(): void {
    this.fed.length = 0;
  }

  async dispose(): Promise<void> {}
}

const greedy = () => new Sampler({ temperature: 0 });

describe("generateTokens", () => {
  it("stops at an EOS id without emitting it", async () => {
    const session = new CountingSession(64);
    const streamed: number[] = [];
    const result = await generateTokens(session, [1], {
      sampler: greedy(),
      maxNewTokens: 20,
      eosIds: [5],
      onToken: (id) => streamed.push(id),
    });
    expect(result.ids).toEqual([2, 3, 4]);
    expect(result.stopReason).toBe("eos");
    expect(streamed).toEqual([2, 3, 4]);
  });

  it("stops at maxNewTokens without feeding the last id", async () => {
    const session = new CountingSession(64);
    const result = await generateTokens(session, [0, 1], { sampler: greedy(), maxNewTokens: 3, eosIds: [] });
    expect(result.ids).toEqual([2, 3, 4]);
    expect(result.stopReason).toBe("max-new-tokens");
    expect(session.fed).toEqual([0, 1, 2, 3]);
  });

  it("stops when the cache is full", async () => {
    const session = new CountingSession(3);
    const result = await generateTokens(session, [1], { sampler: greedy(), maxNewTokens: 10, eosIds: [] });
    expect(result.ids).toEqual([2, 3, 4]);
    expect(result.stopReason).toBe("context-limit");
    expect(session.fed).toEqual([1, 2, 3]);
  });

  it("samples one token from a prompt that fills the cache", async () => {
    const session = new CountingSession(2);
    const result = await generateTokens(session, [6, 7], { sampler: greedy(), maxNewTokens: 10, eosIds: [] });
    expect(result.ids).toEqual([0]);
    expect(result.stopReason).toBe("context-limit");
  });

  it("rejects a prompt longer than the cache", async () => {
    const session = new CountingSession(2);
    const run = generateTokens(session, [1, 2, 3], { sampler: greedy(), maxNewTokens: 1, eosIds: [] });
    await expect(run).rejects.toBeInstanceOf(ContextOverflowError);
    expect(session.fed).toEqual([]);
  });

  it("rejects an empty prompt", async () => {
    const run = generateTokens(new CountingSession(4), [], { sampler: greedy(), maxNewTokens: 1, eosIds: [] });
    await expect(run).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
