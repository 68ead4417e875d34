import { afterAll, describe, expect, it } from "vitest";

import {
  BackendFailureError,
  cacheBytesPerToken,
  ContextOverflowError,
  InvalidArgumentError,
  InvalidConfigError,
  MapWeightStore,
  weightNames,
  type Backend,
  type CaptureEvent,
  type LoadedModel,
} from "@elitekv/core";
import { maxAbsDifference, tolerances } from "@elitekv/vitest-config/matchers";

import { createCpuBackend } from "../src/index.js";
import { minimumParallelWork } from "../src/parallel-ops.js";
import { referenceForward } from "./support/reference-forward.js";
import { tinyModel } from "./support/random-model.js";

const backends = new Map<string, Backend>();

/** Returns a backend shared by the tests that use the same settings, because workers take a while to start. */
function backend(threads: number, chunkTokens?: number): Backend {
  const key = `${threads}/${chunkTokens}`;
  let created = backends.get(key);
  if (created === undefined) {
    created = createCpuBackend({ threads, chunkTokens });
    backends.set(key, created);
  }
  return created;
}

afterAll(async () => {
  await Promise.all([...backends.values()].map((created) => created.dispose()));
});

function randomIds(count: number, vocabSize: number, seed: number): number[] {
  const ids: number[] = [];
  let state = seed;
  for (let i = 0; i < count; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    ids.push(state % vocabSize);
  }
  return ids;
}

function flatten(rows: Float64Array[]): Float64Array {
  const out = new Float64Array(rows.reduce((sum, row) => sum + row.length, 0));
  let offset = 0;
  for (const row of rows) {
    out.set(row, offset);
    offset += row.length;
  }
  return out;
}

/** Returns the model with one weight replaced by zeros of `shape`, or removed when `shape` is undefined. */
function withWeight(model: LoadedModel, name: string, shape?: number[]): LoadedModel {
  const tensors = new Map(model.weights.names().map((key) => [key, model.weights.get(key)] as const));
  if (shape === undefined) tensors.delete(name);
  else tensors.set(name, { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  return { ...model, weights: new MapWeightStore(tensors) };
}

describe("forward pass against the float64 reference", () => {
  const cases = [
    { name: "GQA with tied head", options: {} },
    { name: "MHA with untied head", options: { numKvHeads: 4, tieWordEmbeddings: false, seed: 7 } },
    { name: "one KV head", options: { numHeads: 4, numKvHeads: 1, headDim: 16, hiddenSize: 48, seed: 9 } },
    {
      name: "llama3 rope scaling",
      options: {
        headDim: 16,
        hiddenSize: 48,
        seed: 11,
        rope: {
          theta: 500000,
          rotaryDim: 16,
          sourceLayout: "half" as const,
          scaling: { type: "llama3" as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 16 },
        },
      },
    },
  ];

  for (const { name, options } of cases) {
    it(`matches all logits: ${name}`, async () => {
      const model = tinyModel(options);
      const ids = randomIds(40, model.config.vocabSize, 3);
      const expected = flatten(referenceForward(model, ids).logits);

      const session = await backend(2).createSession(model);
      const logits = await session.prefill(ids, { logits: "all" });

      expect(logits.rows).toBe(ids.length);
      expect(logits.vocabSize).toBe(model.config.vocabSize);
      expect(maxAbsDifference(logits.data, expected)).toBeLessThan(tolerances.goldenLogits);
      await session.dispose();
    });
  }

  it("returns the last row by default", async () => {
    const model = tinyModel();
    const ids = randomIds(9, model.config.vocabSize, 5);
    const expected = referenceForward(model, ids).logits[ids.length - 1];

    const session = await backend(2).createSession(model);
    const logits = await session.prefill(ids);

    expect(logits.rows).toBe(1);
    expect(maxAbsDifference(logits.data, expected)).toBeLessThan(tolerances.goldenLogits);
    await session.dispose();
  });
});

describe("prefill and decode parity", () => {
  it("prefill equals single-token decodes", async () => {
    const model = tinyModel({ seed: 21 });
    const ids = randomIds(24, model.config.vocabSize, 8);
    const prefillSession = await backend(2).createSession(model);
    const all = await prefillSession.prefill(ids, { logits: "all" });

    const decodeSession = await backend(2).createSession(model);
    const vocabSize = model.config.vocabSize;
    for (let t = 0; t < ids.length; t++) {
      const step = await decodeSession.decode(ids[t]);
      const row = all.data.subarray(t * vocabSize, (t + 1) * vocabSize);
      expect(maxAbsDifference(step.data, row)).toBeLessThanOrEqual(tolerances.float32Parity);
    }
    expect(decodeSession.position).toBe(ids.length);
  });

  it("continues positions across calls", async () => {
    const model = tinyModel({ seed: 22 });
    const ids = randomIds(20, model.config.vocabSize, 9);
    const session = await backend(2).createSession(model);

    const whole = await session.prefill(ids, { logits: "all" });
    session.reset();
    const first = await session.prefill(ids.slice(0, 13), { logits: "all" });
    const second = await session.prefill(ids.slice(13), { logits: "all" });

    const vocabSize = model.config.vocabSize;
    expect(session.position).toBe(20);
    expect(maxAbsDifference(first.data, whole.data.subarray(0, 13 * vocabSize))).toBeLessThanOrEqual(tolerances.float32Parity);
    expect(maxAbsDifference(second.data, whole.data.subarray(13 * vocabSize))).toBeLessThanOrEqual(tolerances.float32Parity);
  });

  it("gives identical logits for any chunk size", async () => {
    const model = tinyModel({ seed: 23 });
    const ids = randomIds(50, model.config.vocabSize, 10);
    const oneChunk = await (await backend(2, 64).createSession(model)).prefill(ids, { logits: "all" });
    const smallChunks = await (await backend(2, 7).createSession(model)).prefill(ids, { logits: "all" });
    const lastOnly = await (await backend(2, 7).createSession(model)).prefill(ids);

    expect(maxAbsDifference(smallChunks.data, oneChunk.data)).toBe(0);
    expect(maxAbsDifference(lastOnly.data, oneChunk.data.subarray(49 * model.config.vocabSize))).toBe(0);
  });

  it("gives identical logits on 1 and 2 threads", async () => {
    const model = tinyModel({ hiddenSize: 256, intermediateSize: 512, numHeads: 8, numKvHeads: 2, headDim: 32, vocabSize: 300, seed: 24 });
    const ids = randomIds(301, model.config.vocabSize, 11);
    // Decode jobs must be large enough to leave the main thread, or the comparison proves nothing.
    expect(model.config.hiddenSize * model.config.intermediateSize).toBeGreaterThanOrEqual(minimumParallelWork);
    expect(model.config.numHeads * 300 * model.config.headDim).toBeGreaterThanOrEqual(minimumParallelWork);

    const single = await backend(1).createSession(model, { maxContext: 320 });
    const double = await backend(2).createSession(model, { maxContext: 320 });
    const singlePrefill = await single.prefill(ids.slice(0, 300), { logits: "all" });
    const doublePrefill = await double.prefill(ids.slice(0, 300), { logits: "all" });
    const singleDecode = await single.decode(ids[300]);
    const doubleDecode = await double.decode(ids[300]);

    expect(maxAbsDifference(doublePrefill.data, singlePrefill.data)).toBe(0);
    expect(maxAbsDifference(doubleDecode.data, singleDecode.data)).toBe(0);
  });
});

describe("capture hook", () => {
  it("delivers pre-rotation queries and keys", async () => {
    const model = tinyModel({ numLayers: 3, seed: 31 });
    const { numHeads, numKvHeads, headDim } = model.config;
    const ids = randomIds(12, model.config.vocabSize, 12);
    const reference = referenceForward(model, ids);
    const events: CaptureEvent[] = [];
    const session = await backend(2, 5).createSession(model);

    await session.prefill(ids.slice(0, 10), { capture: { layers: [2, 0, 2], onCapture: (event) => events.push(event) } });
    await session.decode(ids[10], { capture: { layers: [1], onCapture: (event) => events.push(event) } });

    expect(events.map((event) => [event.layer, event.startPosition, event.tokens])).toEqual([
      [0, 0, 10],
      [2, 0, 10],
      [1, 10, 1],
    ]);
    for (const event of events) {
      const positions = Array.from({ length: event.tokens }, (_, t) => event.startPosition + t);
      const expectedQuery = flatten(positions.map((position) => reference.queries[event.layer][position]));
      const expectedKey = flatten(positions.map((position) => reference.keys[event.layer][position]));
      expect(event.query.length).toBe(event.tokens * numHeads * headDim);
      expect(event.key.length).toBe(event.tokens * numKvHeads * headDim);
      expect(maxAbsDifference(event.query, expectedQuery)).toBeLessThan(tolerances.float32Parity);
      expect(maxAbsDifference(event.key, expectedKey)).toBeLessThan(tolerances.float32Parity);
    }
  });

  it("captures every layer when layers is omitted", async () => {
    const model = tinyModel({ numLayers: 3 });
    const layers: number[] = [];
    const session = await backend(2).createSession(model);

    await session.prefill([3, 4], { capture: { onCapture: (event) => layers.push(event.layer) } });

    expect(layers).toEqual([0, 1, 2]);
  });

  it("rejects a layer outside the model", async () => {
    const session = await backend(2).createSession(tinyModel());

    const result = session.prefill([3], { capture: { layers: [2], onCapture: () => {} } });

    await expect(result).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(result).rejects.toThrow("capture layer 2");
    expect(session.position).toBe(0);
  });
});

describe("cache and context", () => {
  it("measures cache bytes from its buffers", async () => {
    const model = tinyModel({ numLayers: 3, numKvHeads: 2, headDim: 8 });
    const session = await backend(2).createSession(model, { maxContext: 16 });
    const perToken = 2 * 2 * 8 * 3 * 4;

    await session.prefill([1, 2, 3, 4, 5]);

    expect(session.cache.capacity).toBe(16);
    expect(session.cache.length).toBe(5);
    expect(session.cache.bytesPerToken).toBe(perToken);
    expect(session.cache.bytesPerToken).toBe(cacheBytesPerToken(session.cache.layout));
    expect(session.cache.bytesAllocated).toBe(perToken * 16);
    expect(session.cache.bytesUsed).toBe(perToken * 5);
  });

  it("defaults capacity to maxPositionEmbeddings", async () => {
    const session = await backend(2).createSession(tinyModel({ maxPositionEmbeddings: 96 }));

    expect(session.cache.capacity).toBe(96);
  });

  it("raises ContextOverflowError before any work", async () => {
    const model = tinyModel();
    const session = await backend(2).createSession(model, { maxContext: 8 });
    await session.prefill([1, 2, 3, 4, 5, 6]);

    const overflow = session.prefill([7, 8, 9]);

    await expect(overflow).rejects.toBeInstanceOf(ContextOverflowError);
    await expect(overflow).rejects.toMatchObject({ requested: 9, capacity: 8 });
    expect(session.position).toBe(6);
    const fits = await session.prefill([7, 8], { logits: "all" });
    const expected = flatten(referenceForward(model, [1, 2, 3, 4, 5, 6, 7, 8]).logits.slice(6));
    expect(maxAbsDifference(fits.data, expected)).toBeLessThan(tolerances.goldenLogits);
    await expect(session.decode(9)).rejects.toBeInstanceOf(ContextOverflowError);
  });

  it("reset replays the same logits", async () => {
    const model = tinyModel({ seed: 41 });
    const ids = randomIds(15, model.config.vocabSize, 13);
    const session = await backend(2).createSession(model);

    const first = await session.prefill(ids, { logits: "all" });
    session.reset();
    expect(session.position).toBe(0);
    expect(session.cache.bytesUsed).toBe(0);
    const second = await session.prefill(ids, { logits: "all" });

    expect(maxAbsDifference(second.data, first.data)).toBe(0);
  });
});

describe("input validation", () => {
  it.each([
    [-1, "token id -1"],
    [64, "token id 64"],
    [1.5, "token id 1.5"],
    [Number.NaN, "token id NaN"],
  ])("rejects token id %s", async (id, message) => {
    const session = await backend(2).createSession(tinyModel({ vocabSize: 64 }));

    const result = session.prefill([1, id]);

    await expect(result).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(result).rejects.toThrow(message);
    expect(session.position).toBe(0);
  });

  it("rejects an empty prefill", async () => {
    const session = await backend(2).createSession(tinyModel());

    await expect(session.prefill([])).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("rejects an unknown logits mode", async () => {
    const session = await backend(2).createSession(tinyModel());

    await expect(session.prefill([1], { logits: "first" as "all" })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("rejects a missing weight by name", async () => {
    const model = withWeight(tinyModel(), weightNames.valueProjection(1));

    const result = backend(2).createSession(model);

    await expect(result).rejects.toBeInstanceOf(InvalidConfigError);
    await expect(result).rejects.toThrow("weight layers.1.wv is missing");
  });

  it("rejects a weight of the wrong shape", async () => {
    const model = withWeight(tinyModel(), weightNames.downProjection(0), [48, 32]);

    const result = backend(2).createSession(model);

    await expect(result).rejects.toBeInstanceOf(InvalidConfigError);
    await expect(result).rejects.toThrow("weight layers.0.w2 has shape [48, 32]");
  });

  it("rejects an untied model without an output head", async () => {
    const model = withWeight(tinyModel({ tieWordEmbeddings: false }), weightNames.outputHead);

    await expect(backend(2).createSession(model)).rejects.toThrow("output_head is missing");
  });

  it("rejects more session threads than the backend has", async () => {
    const result = backend(2).createSession(tinyModel(), { threads: 3 });

    await expect(result).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(result).rejects.toThrow("session threads must be an integer in [1, 2]");
  });

  it.each([0, 1.5, 300])("rejects backend threads %s", (threads) => {
    expect(() => createCpuBackend({ threads })).toThrow(InvalidArgumentError);
  });

  it("rejects an invalid maxContext", async () => {
    await expect(backend(2).createSession(tinyModel(), { maxContext: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe("session lifetime", () => {
  it("runs sessions of one backend concurrently", async () => {
    const model = tinyModel({ seed: 51 });
    const shared = backend(2);
    const first = await shared.createSession(model);
    const second = await shared.createSession(model);
    const idsA = randomIds(30, model.config.vocabSize, 14);
    const idsB = randomIds(30, model.config.vocabSize, 15);

    const [a, b] = await Promise.all([first.prefill(idsA, { logits: "all" }), second.prefill(idsB, { logits: "all" })]);

    expect(maxAbsDifference(a.data, flatten(referenceForward(model, idsA).logits))).toBeLessThan(tolerances.goldenLogits);
    expect(maxAbsDifference(b.data, flatten(referenceForward(model, idsB).logits))).toBeLessThan(tolerances.goldenLogits);
  });

  it("rejects calls after dispose", async () => {
    const owned = createCpuBackend({ threads: 2 });
    const session = await owned.createSession(tinyModel());
    await session.dispose();

    await expect(session.prefill([1])).rejects.toBeInstanceOf(BackendFailureError);

    await owned.dispose();
    await expect(owned.createSession(tinyModel())).rejects.toBeInstanceOf(BackendFailureError);
  });

  it("keeps other sessions working after one is disposed", async () => {
    const model = tinyModel({ seed: 52 });
    const shared = backend(2);
    const disposed = await shared.createSession(model);
    const kept = await shared.createSession(model);
    await disposed.dispose();

    const logits = await kept.prefill([5, 6, 7], { logits: "all" });

    expect(maxAbsDifference(logits.data, flatten(referenceForward(model, [5, 6, 7]).logits))).toBeLessThan(tolerances.goldenLogits);
  });
});
