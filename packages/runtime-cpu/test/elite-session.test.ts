import { afterAll, describe, expect, it } from "vitest";

import {
  cacheBytesPerToken,
  ContextOverflowError,
  eliteCacheLayout,
  eliteWeightNames,
  InvalidConfigError,
  MapWeightStore,
  type Backend,
  type CaptureEvent,
  type LoadedModel,
} from "@elitekv/core";
import { loadModel } from "@elitekv/models";
import { maxAbsDifference, tolerances } from "@elitekv/vitest-config/matchers";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";

import { createCpuBackend } from "../src/index.js";
import { minimumParallelWork } from "../src/parallel-ops.js";
import { convertForTest } from "./support/elite-conversion.js";
import { eliteReferenceForward } from "./support/elite-reference.js";
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

/** Returns the expected cache bytes per token: (2·G·r + d_c) float32 values in every layer. */
function expectedBytesPerToken(model: LoadedModel): number {
  const { numKvHeads } = model.config;
  const elite = model.elite!;
  return elite.layers.reduce((sum, layer) => sum + (2 * numKvHeads * elite.ropeChunksPerHead + layer.latentDim) * 4, 0);
}

const sharedModels = [
  { name: "stories260K", file: "stories260K.bin" },
  { name: "aidreams260K", file: "aidreams260K.bin" },
  { name: "tinystories-656k", file: "" },
];

describe.skipIf(!hasShared)("EliteKV session on shared models", () => {
  const loaded = new Map<string, Promise<LoadedModel>>();
  const load = (name: string) => {
    const file = sharedModels.find((model) => model.name === name)!.file;
    if (!loaded.has(name)) loaded.set(name, loadModel(sharedPath("models", name, file)));
    return loaded.get(name)!;
  };

  it.each(["stories260K", "tinystories-656k"])("absorbed decode matches rebuilt K/V: %s", async (name) => {
    const converted = convertForTest(await load(name), 2, 16);
    const ids = randomIds(24, converted.config.vocabSize, 5);
    const reference = eliteReferenceForward(converted, ids);
    const session = await backend(2, 4).createSession(converted);

    const prefill = await session.prefill(ids.slice(0, 8), { logits: "all" });
    for (let position = 0; position < 8; position++) {
      const row = prefill.data.subarray(position * prefill.vocabSize, (position + 1) * prefill.vocabSize);
      expect(maxAbsDifference(row, reference.logits[position])).toBeLessThan(1e-4);
    }
    for (let position = 8; position < 24; position++) {
      const logits = await session.decode(ids[position]);
      expect(maxAbsDifference(logits.data, reference.logits[position])).toBeLessThan(1e-4);
    }
    expect(session.position).toBe(24);
    await session.dispose();
  });

  it.each(sharedModels.map((model) => model.name))("keeps base logits at full rank: %s", async (name) => {
    const base = await load(name);
    const { hiddenSize, numKvHeads, headDim } = base.config;
    const converted = convertForTest(base, headDim / 2, Math.min(hiddenSize, numKvHeads * headDim));
    const ids = randomIds(20, base.config.vocabSize, 9);
    const baseSession = await backend(2).createSession(base);
    const convertedSession = await backend(2).createSession(converted);

    const expected = await baseSession.prefill(ids, { logits: "all" });
    const actual = await convertedSession.prefill(ids, { logits: "all" });
    expect(maxAbsDifference(actual.data, expected.data)).toBeLessThan(1e-4);
    await baseSession.dispose();
    await convertedSession.dispose();
  });
});

describe("EliteKV session", () => {
  const base = tinyModel({ numLayers: 2, seed: 41 });
  const converted = convertForTest(base, 2, 12);

  it("sizes the cache from its buffers", async () => {
    const capacity = 32;
    const session = await backend(2).createSession(converted, { maxContext: capacity });
    const perToken = expectedBytesPerToken(converted);

    expect(session.cache.layout).toEqual(eliteCacheLayout(converted.config, converted.elite!));
    expect(session.cache.capacity).toBe(capacity);
    expect(session.cache.bytesPerToken).toBe(perToken);
    expect(session.cache.bytesAllocated).toBe(perToken * capacity);
    expect(cacheBytesPerToken(session.cache.layout)).toBe(perToken);
    expect(session.cache.bytesUsed).toBe(0);

    await session.prefill([1, 2, 3]);
    expect(session.cache.length).toBe(3);
    expect(session.cache.bytesUsed).toBe(3 * perToken);
    await session.decode(4);
    expect(session.cache.bytesUsed).toBe(4 * perToken);
    session.reset();
    expect(session.cache.bytesUsed).toBe(0);
    await session.dispose();
  });

  it("rejects prefills past maxContext", async () => {
    const session = await backend(2).createSession(converted, { maxContext: 8 });
    await session.prefill([1, 2, 3, 4, 5, 6]);

    await expect(session.prefill([1, 2, 3])).rejects.toBeInstanceOf(ContextOverflowError);
    expect(session.position).toBe(6);
    await session.prefill([7, 8]);
    await expect(session.decode(9)).rejects.toBeInstanceOf(ContextOverflowError);
    expect(session.position).toBe(8);
    await session.dispose();
  });

  it("matches step-by-step decode", async () => {
    const ids = randomIds(13, converted.config.vocabSize, 3);
    const batched = await backend(2, 5).createSession(converted);
    const stepped = await backend(2, 5).createSession(converted);
    const { vocabSize } = converted.config;

    const all = await batched.prefill(ids, { logits: "all" });
    for (let position = 0; position < ids.length; position++) {
      const logits = await stepped.decode(ids[position]);
      const row = all.data.subarray(position * vocabSize, (position + 1) * vocabSize);
      expect(maxAbsDifference(logits.data, row)).toBeLessThan(tolerances.float32Parity);
    }
    await batched.dispose();
    await stepped.dispose();
  });

  it("gives identical logits on 1 and 2 threads", async () => {
    const r = 2;
    const latentDim = 24;
    const wide = convertForTest(tinyModel({ hiddenSize: 256, intermediateSize: 512, numLayers: 2, seed: 8 }), r, latentDim);
    const { numHeads, vocabSize } = wide.config;
    const ids = randomIds(48, vocabSize, 4);
    const reference = eliteReferenceForward(wide, ids);
    // The prefill's absorbed attention job is large enough to split across threads, as are its projections.
    const attentionWork = numHeads * ids.length * ids.length * (2 * r + latentDim);
    expect(attentionWork).toBeGreaterThanOrEqual(minimumParallelWork);

    const one = await backend(1).createSession(wide);
    const two = await backend(2).createSession(wide);
    const single = await one.prefill(ids, { logits: "all" });
    const parallel = await two.prefill(ids, { logits: "all" });

    expect(Array.from(parallel.data)).toEqual(Array.from(single.data));
    expect(maxAbsDifference(parallel.data, flatten(reference.logits))).toBeLessThan(1e-4);
    await one.dispose();
    await two.dispose();
  });

  it.each([
    { r: 0, latentDims: [20, 7] },
    { r: 1, latentDims: [5, 25] },
    { r: 4, latentDims: [16, 9] },
  ])("matches rebuilt K/V at r = $r", async ({ r, latentDims }) => {
    const model = convertForTest(base, r, latentDims);
    const ids = randomIds(12, model.config.vocabSize, 7);
    const reference = eliteReferenceForward(model, ids);
    const session = await backend(2, 5).createSession(model);

    const logits = await session.prefill(ids, { logits: "all" });
    expect(maxAbsDifference(logits.data, flatten(reference.logits))).toBeLessThan(1e-4);
    expect(session.cache.bytesPerToken).toBe(expectedBytesPerToken(model));
    await session.dispose();
  });

  it("captures queries, rebuilt keys and inputs", async () => {
    const { numHeads, numKvHeads, headDim, hiddenSize } = converted.config;
    const ids = randomIds(9, converted.config.vocabSize, 6);
    const reference = eliteReferenceForward(converted, ids);
    const events: CaptureEvent[] = [];
    const session = await backend(2, 4).createSession(converted);

    await session.prefill(ids.slice(0, 8), { capture: { attentionInput: true, onCapture: (event) => events.push(event) } });
    await session.decode(ids[8], { capture: { layers: [1], onCapture: (event) => events.push(event) } });

    expect(events.map((event) => [event.layer, event.startPosition, event.tokens])).toEqual([
      [0, 0, 8],
      [1, 0, 8],
      [1, 8, 1],
    ]);
    for (const event of events) {
      const positions = Array.from({ length: event.tokens }, (_, t) => event.startPosition + t);
      const pick = (rows: Float64Array[][]) => flatten(positions.map((position) => rows[event.layer][position]));
      expect(event.query.length).toBe(event.tokens * numHeads * headDim);
      expect(event.key.length).toBe(event.tokens * numKvHeads * headDim);
      expect(maxAbsDifference(event.query, pick(reference.queries))).toBeLessThan(tolerances.float32Parity);
      expect(maxAbsDifference(event.key, pick(reference.keys))).toBeLessThan(tolerances.float32Parity);
    }
    expect(events[0].attentionInput?.length).toBe(8 * hiddenSize);
    expect(maxAbsDifference(events[0].attentionInput!, flatten(reference.attentionInputs[0].slice(0, 8)))).toBeLessThan(
      tolerances.float32Parity,
    );
    expect(maxAbsDifference(events[1].attentionInput!, flatten(reference.attentionInputs[1].slice(0, 8)))).toBeLessThan(
      tolerances.float32Parity,
    );
    expect(events[2].attentionInput).toBeUndefined();
    await session.dispose();
  });

  it("rejects a converted weight of the wrong shape", async () => {
    const tensors = new Map(converted.weights.names().map((name) => [name, converted.weights.get(name)]));
    tensors.set(eliteWeightNames.latentDownProjection(1), { shape: [11, base.config.hiddenSize], data: new Float32Array(11 * base.config.hiddenSize) });
    const broken: LoadedModel = { ...converted, weights: new MapWeightStore(tensors) };

    await expect(backend(2).createSession(broken)).rejects.toThrow(InvalidConfigError);
    await expect(backend(2).createSession(broken)).rejects.toThrow(/layers\.1\.w_dkv/);
  });

  it("rejects an invalid EliteKV config", async () => {
    const elite = { ...converted.elite!, layers: converted.elite!.layers.map((layer) => ({ ...layer, ropeChunks: [[0, 0]] })) };
    await expect(backend(2).createSession({ ...converted, elite })).rejects.toThrow(InvalidConfigError);
  });
});

describe("attention input capture on the base session", () => {
  it("equals RMSNorm of the residual times the norm weight", async () => {
    const model = tinyModel({ numLayers: 3, seed: 52 });
    const { hiddenSize } = model.config;
    const ids = randomIds(7, model.config.vocabSize, 2);
    const reference = referenceForward(model, ids);
    const events: CaptureEvent[] = [];
    const session = await backend(2, 3).createSession(model);

    await session.prefill(ids.slice(0, 6), { capture: { layers: [0, 2], attentionInput: true, onCapture: (event) => events.push(event) } });
    await session.decode(ids[6], { capture: { layers: [1], attentionInput: true, onCapture: (event) => events.push(event) } });

    expect(events.map((event) => [event.layer, event.startPosition, event.tokens])).toEqual([
      [0, 0, 6],
      [2, 0, 6],
      [1, 6, 1],
    ]);
    for (const event of events) {
      const positions = Array.from({ length: event.tokens }, (_, t) => event.startPosition + t);
      const expected = flatten(positions.map((position) => reference.attentionInputs[event.layer][position]));
      expect(event.attentionInput?.length).toBe(event.tokens * hiddenSize);
      expect(maxAbsDifference(event.attentionInput!, expected)).toBeLessThan(tolerances.float32Parity);
    }
    await session.dispose();
  });

  it("omits attention inputs unless requested", async () => {
    const model = tinyModel({ numLayers: 2, seed: 53 });
    const events: CaptureEvent[] = [];
    const session = await backend(2).createSession(model);

    await session.prefill([1, 2, 3], { capture: { onCapture: (event) => events.push(event) } });
    expect(events).toHaveLength(2);
    expect(events.every((event) => event.attentionInput === undefined)).toBe(true);
    await session.dispose();
  });
});
