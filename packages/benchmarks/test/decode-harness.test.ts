import {
  cacheBytesPerToken,
  fullCacheLayout,
  InvalidArgumentError,
  type InferenceSession,
  type KvCache,
  type Logits,
  type ModelConfig,
} from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { decodeHarnessCapacity, measureDecodeAtContexts, type DecodeHarnessOptions } from "../src/index.js";

type Call = { kind: "prefill"; from: number; ids: number[] } | { kind: "decode"; at: number; id: number } | { kind: "reset" };

/** A session that runs nothing and records every call with the position it ran at. */
class RecordingSession implements InferenceSession {
  readonly config = { vocabSize: 4 } as ModelConfig;
  readonly calls: Call[] = [];
  readonly cache: KvCache;
  position = 0;

  constructor(capacity: number) {
    const layout = fullCacheLayout({ numLayers: 1, numKvHeads: 1, headDim: 2 } as ModelConfig);
    const session = this;
    this.cache = {
      layout,
      capacity,
      get length() {
        return session.position;
      },
      bytesAllocated: capacity * cacheBytesPerToken(layout),
      bytesPerToken: cacheBytesPerToken(layout),
      get bytesUsed() {
        return session.position * cacheBytesPerToken(layout);
      },
    };
  }

  async prefill(ids: readonly number[]): Promise<Logits> {
    this.calls.push({ kind: "prefill", from: this.position, ids: [...ids] });
    this.position += ids.length;
    return { rows: 1, vocabSize: 4, data: new Float32Array(4) };
  }

  async decode(id: number): Promise<Logits> {
    this.calls.push({ kind: "decode", at: this.position, id });
    this.position += 1;
    return { rows: 1, vocabSize: 4, data: new Float32Array(4) };
  }

  reset(): void {
    this.calls.push({ kind: "reset" });
    this.position = 0;
  }

  async dispose(): Promise<void> {}
}

const options: DecodeHarnessOptions = {
  contexts: [12, 10],
  decodeSteps: 3,
  runs: 2,
  warmupSteps: 1,
  prefillChunk: 4,
  prefillRuns: 2,
};

/** Ids equal to their positions, so every recorded id shows which position it came from. */
const positions = (count: number) => Array.from({ length: count }, (_, i) => i);

describe("decodeHarnessCapacity", () => {
  it("adds every decode step to the largest context", () => {
    // 12 + 1 warmup + 2 runs · 3 steps.
    expect(decodeHarnessCapacity(options)).toBe(19);
  });

  it("covers a prefill chunk longer than every context", () => {
    expect(decodeHarnessCapacity({ ...options, contexts: [2], prefillChunk: 8 })).toBe(15);
  });
});

describe("measureDecodeAtContexts", () => {
  it("reaches each context by chunked prefill of the text", async () => {
    const session = new RecordingSession(19);
    const result = await measureDecodeAtContexts(session, positions(19), options);

    // Three prefills of one chunk (one untimed), each after a reset.
    expect(session.calls.slice(0, 6)).toEqual([
      { kind: "reset" },
      { kind: "prefill", from: 0, ids: [0, 1, 2, 3] },
      { kind: "reset" },
      { kind: "prefill", from: 0, ids: [0, 1, 2, 3] },
      { kind: "reset" },
      { kind: "prefill", from: 0, ids: [0, 1, 2, 3] },
    ]);
    expect(result.prefill.chunkTokens).toBe(4);
    expect(result.prefill.tokensPerSecond.runs).toBe(2);

    // Context 10 first: chunks [4, 8) and [8, 10), then 1 + 6 decodes of positions 10 to 16.
    expect(session.calls.slice(6, 8)).toEqual([
      { kind: "prefill", from: 4, ids: [4, 5, 6, 7] },
      { kind: "prefill", from: 8, ids: [8, 9] },
    ]);
    const firstDecodes = session.calls.slice(8, 15);
    expect(firstDecodes).toEqual(positions(7).map((i) => ({ kind: "decode", at: 10 + i, id: 10 + i })));

    // Position 17 is past context 12, so the harness resets and prefills 12 tokens again.
    expect(session.calls.slice(15, 19)).toEqual([
      { kind: "reset" },
      { kind: "prefill", from: 0, ids: [0, 1, 2, 3] },
      { kind: "prefill", from: 4, ids: [4, 5, 6, 7] },
      { kind: "prefill", from: 8, ids: [8, 9, 10, 11] },
    ]);
    expect(session.calls.slice(19)).toEqual(positions(7).map((i) => ({ kind: "decode", at: 12 + i, id: 12 + i })));

    expect(result.decode.map((entry) => entry.context)).toEqual([10, 12]);
  });

  it("reports the cache lengths the timed steps attended", async () => {
    const session = new RecordingSession(19);
    const result = await measureDecodeAtContexts(session, positions(19), options);

    // At context 10 the warmup step runs at position 10; timed steps at 11 .. 16 attend 12 .. 17 tokens.
    const [atTen, atTwelve] = result.decode;
    expect(atTen.timedCacheTokens).toEqual({ first: 12, last: 17, mean: 14.5 });
    expect(atTwelve.timedCacheTokens).toEqual({ first: 14, last: 19, mean: 16.5 });
    expect(atTen.tokensPerSecond.runs).toBe(2);
    expect(atTen.reachedBy).toMatchObject({ fromPosition: 4, toPosition: 10, chunks: 2 });
    expect(atTwelve.reachedBy).toMatchObject({ fromPosition: 0, toPosition: 12, chunks: 3 });
  });

  it("skips the prefill when the cache already holds the context", async () => {
    const session = new RecordingSession(11);
    const result = await measureDecodeAtContexts(session, positions(11), { ...options, contexts: [4] });
    expect(result.decode[0].reachedBy).toBeUndefined();
    expect(session.calls.filter((call) => call.kind === "prefill")).toHaveLength(3);
  });

  it("rejects too few ids, too small a cache and invalid options", async () => {
    await expect(measureDecodeAtContexts(new RecordingSession(19), positions(18), options)).rejects.toThrow(/needs 19 ids/);
    await expect(measureDecodeAtContexts(new RecordingSession(18), positions(19), options)).rejects.toThrow(/maxContext 19/);
    await expect(measureDecodeAtContexts(new RecordingSession(19), positions(19), { ...options, runs: 0 })).rejects.toThrow(
      InvalidArgumentError,
    );
    await expect(measureDecodeAtContexts(new RecordingSession(19), positions(19), { ...options, contexts: [] })).rejects.toThrow(
      /contexts is empty/,
    );
    await expect(measureDecodeAtContexts(new RecordingSession(19), positions(19), { ...options, contexts: [0, 4] })).rejects.toThrow(
      /positive integer/,
    );
  });
});
