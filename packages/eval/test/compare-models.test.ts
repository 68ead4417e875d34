import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { InvalidArgumentError, type Backend, type InferenceSession, type LoadedModel, type ProgressEvent } from "@elitekv/core";
import { convertModel } from "@elitekv/converter";
import { loadModel, loadTextSource } from "@elitekv/models";
import { createCpuBackend } from "@elitekv/runtime-cpu";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { compareModels, compareModelSet, computePerplexity } from "../src/index.js";
import { FakeSession } from "./fake-session.js";

// With the fake session's logits a favoured target costs ln(8/5) nats and any other target ln 8. Two
// rows that favour different tokens have KL = 5/8·ln 5 + 1/8·ln(1/5) = ln(5)/2 nats.
const favouredNll = Math.log(8 / 5);
const otherNll = Math.log(8);
const disagreeingKl = Math.log(5) / 2;

// Window 4 gives two windows, and the last two ids are dropped.
const stream = [3, 0, 1, 3, 2, 0, 3, 1, 1, 2];

describe("compareModels protocol", () => {
  it("gives zero KL for identical sessions", async () => {
    const result = await compareModels(new FakeSession(), new FakeSession(), stream, { window: 4 });

    expect(result.klDivergence).toBe(0);
    expect(result.top1Agreement).toBe(1);
    expect(result.pplIncreasePct).toBe(0);
    expect(result.base.meanNll).toBe(result.model.meanNll);
  });

  it("matches hand-computed metrics", async () => {
    // The model favours the next token at position 1 of every window, so one of three rows disagrees.
    const model = new FakeSession({ favouredShift: (position) => (position === 1 ? 1 : 0) });

    const result = await compareModels(new FakeSession(), model, stream, { window: 4 });

    // Base windows: [0 → 0, 1 → 1, 2 → 3] and [0 → 0, 1 → 3, 2 → 1].
    const baseMean = ((2 * favouredNll + otherNll) / 3 + (favouredNll + 2 * otherNll) / 3) / 2;
    // The model favours 2 at position 1, so window 0 loses its second favoured prediction.
    const modelMean = (favouredNll + 2 * otherNll) / 3;
    expect(result.base.meanNll).toBeCloseTo(baseMean, 6);
    expect(result.model.meanNll).toBeCloseTo(modelMean, 6);
    expect(result.base.ppl).toBeCloseTo(Math.exp(baseMean), 5);
    expect(result.model.ppl).toBeCloseTo(Math.exp(modelMean), 5);
    expect(result.pplIncreasePct).toBeCloseTo(100 * (Math.exp(modelMean - baseMean) - 1), 4);
    expect(result.klDivergence).toBeCloseTo(disagreeingKl / 3, 6);
    expect(result.top1Agreement).toBeCloseTo(2 / 3, 12);
    expect(result.tokens).toBe(6);
    expect(result.windows).toBe(2);
  });

  it("feeds identical windows to both", async () => {
    const base = new FakeSession();
    const model = new FakeSession();

    await compareModels(base, model, stream, { window: 4 });

    const expectedWindows = [
      [3, 0, 1, 3],
      [2, 0, 3, 1],
    ];
    expect(base.prefills.map((call) => call.ids)).toEqual(expectedWindows);
    expect(model.prefills.map((call) => call.ids)).toEqual(expectedWindows);
    expect(base.prefills.map((call) => call.startPosition)).toEqual([0, 0]);
    expect(model.prefills.map((call) => call.startPosition)).toEqual([0, 0]);
    expect(base.resets).toBe(2);
    expect(model.resets).toBe(2);
  });

  it("agrees with computePerplexity", async () => {
    const model = new FakeSession({ favouredShift: (position) => position % 2 });

    const comparison = await compareModels(new FakeSession(), model, stream, { window: 4 });
    const alone = await computePerplexity(new FakeSession({ favouredShift: (position) => position % 2 }), stream, { window: 4 });

    expect(comparison.model.meanNll).toBe(alone.meanNll);
    expect(comparison.model.ppl).toBe(alone.ppl);
  });

  it("runs the base once per window for several models", async () => {
    const base = new FakeSession();
    const shifted = () => new FakeSession({ favouredShift: (position) => (position === 1 ? 1 : 0) });
    const late = () => new FakeSession({ favouredShift: (position) => (position >= 1 ? 1 : 0) });

    const [first, second] = await compareModelSet(base, [shifted(), late()], stream, { window: 4 });

    expect(base.prefills).toHaveLength(2);
    expect(first).toEqual({ ...(await compareModels(new FakeSession(), shifted(), stream, { window: 4 })), seconds: first.seconds });
    expect(second).toEqual({ ...(await compareModels(new FakeSession(), late(), stream, { window: 4 })), seconds: second.seconds });
    expect(first.klDivergence).not.toBe(second.klDivergence);
  });

  it("names each model's metrics by index", async () => {
    const events: ProgressEvent[] = [];

    await compareModelSet(new FakeSession(), [new FakeSession(), new FakeSession()], stream, {
      window: 4,
      onProgress: (event) => events.push(event),
    });

    const advance = events.find((event) => event.type === "advance");
    expect(advance?.type === "advance" ? Object.keys(advance.metrics ?? {}).sort() : []).toEqual(
      ["basePpl", "klDivergence0", "klDivergence1", "modelPpl0", "modelPpl1", "top1Agreement0", "top1Agreement1"],
    );
  });

  it("rejects an empty model list", async () => {
    await expect(compareModelSet(new FakeSession(), [], stream, { window: 4 })).rejects.toThrow(/at least one model session/);
  });

  it("reports one advance per window", async () => {
    const events: ProgressEvent[] = [];

    await compareModels(new FakeSession(), new FakeSession(), stream, { window: 4, onProgress: (event) => events.push(event) });

    expect(events.map((event) => event.type)).toEqual(["start", "advance", "advance", "end"]);
    expect(events[0]).toMatchObject({ task: "compare", total: 2 });
  });

  it("rejects a window beyond either cache", async () => {
    const small = new FakeSession({ capacity: 2 });

    await expect(compareModels(new FakeSession(), small, stream, { window: 4 })).rejects.toThrow(InvalidArgumentError);
    await expect(compareModels(new FakeSession(), small, stream, { window: 4 })).rejects.toThrow(/cache capacity of 2/);
  });

  it("rejects different vocabularies", async () => {
    const other = new FakeSession({ vocabSize: 5 });

    await expect(compareModels(new FakeSession(), other, stream, { window: 4 })).rejects.toThrow(/vocabulary of 4/);
  });
});

interface OpenedSession {
  backend: Backend;
  session: InferenceSession;
}

async function openSession(model: LoadedModel): Promise<OpenedSession> {
  const backend = createCpuBackend({ threads: 1 });
  const session = await backend.createSession(model, { maxContext: 128 });
  return { backend, session };
}

// stories260K has G = 4 KV heads of h = 8. With all 4 chunks rotated, the joint matrix holds only the
// value rows, G·(2h − 2r) = 32 of them, so a latent of 32 is full rank and the conversion is lossless.
describe.skipIf(!hasShared)("compareModels on stories260K", () => {
  const opened: OpenedSession[] = [];
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "elitekv-compare-"));
  });

  afterAll(async () => {
    for (const { session, backend } of opened) {
      await session.dispose();
      await backend.dispose();
    }
    await rm(scratch, { recursive: true, force: true });
  });

  it("gives KL 0 at full rank", async () => {
    const model = await loadModel(sharedPath("models", "stories260K", "stories260K.bin"));
    const ranking = {
      layers: Array.from({ length: model.config.numLayers }, () => ({
        kvHeads: Array.from({ length: model.config.numKvHeads }, () => ({ ranking: [3, 2, 1, 0] })),
      })),
    };
    const converted = await convertModel(model, ranking, { ropeChunks: 4, latentDim: 32 }, { svd: "weight" });
    const eliteModel: LoadedModel = { ...model, weights: converted.weights, elite: converted.elite };
    const text = await loadTextSource(sharedPath("data", "tinystories-valid-prefix", "tinystories_val.txt"), { maxChars: 2000 });
    const ids = model.tokenizer.encode(text.text, { addBos: true });

    const base = await openSession(model);
    opened.push(base);
    const elite = await openSession(eliteModel);
    opened.push(elite);
    const result = await compareModels(base.session, elite.session, ids, { window: 128 });

    expect(elite.session.cache.layout.kind).toBe("elitekv");
    expect(result.windows).toBeGreaterThanOrEqual(3);
    expect(result.klDivergence).toBeLessThan(1e-6);
    expect(result.top1Agreement).toBe(1);
    expect(Math.abs(result.pplIncreasePct)).toBeLessThan(1e-3);
  });
});
