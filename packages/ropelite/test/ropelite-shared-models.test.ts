import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";

import type { Backend, InferenceSession, LoadedModel, ProgressEvent } from "@elitekv/core";
import { loadModel } from "@elitekv/models";
import { createCpuBackend } from "@elitekv/runtime-cpu";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  analyzeModel,
  candidateObjectives,
  captureLayer,
  computeChunkTerms,
  greedyRanking,
  sampleCalibrationWindows,
  sampleCausalPairs,
  validateRanking,
} from "../src/index.js";
import { bruteForceGreedy, bruteForceObjective } from "./brute-force-ranking.js";

const windowCount = 2;
const windowLength = 64;
const pairsPerWindow = 200;
const seed = 1234;
// Characters of the TinyStories validation text tokenized for calibration, enough for several windows.
const textChars = 3000;
// Both sides sum the same float64 terms in a different order, so they agree far below this bound.
const relativeTolerance = 1e-9;

function closeRelative(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= relativeTolerance * Math.max(Math.abs(actual), Math.abs(expected));
}

const models = [
  { name: "stories260K", path: "stories260K/stories260K.bin", weights: "stories260K.bin", chunks: 4 },
  { name: "tinystories-656k", path: "tinystories-656k", weights: "model.safetensors", chunks: 8 },
];

describe.skipIf(!hasShared).each(models)("RoPElite on $name", ({ path, weights, chunks }) => {
  let model: LoadedModel;
  let backend: Backend;
  let session: InferenceSession;
  let ids: number[];

  beforeAll(async () => {
    model = await loadModel(sharedPath("models", path));
    backend = createCpuBackend({ threads: 1 });
    session = await backend.createSession(model, { maxContext: windowLength });
    const text = await readFile(sharedPath("data", "tinystories-valid-prefix", "tinystories_val.txt"), "utf8");
    ids = model.tokenizer.encode(text.slice(0, textChars), { addBos: true });
  });

  afterAll(async () => {
    await session?.dispose();
    await backend?.dispose();
  });

  it("matches the brute-force greedy", async () => {
    const windows = sampleCalibrationWindows(ids, { windows: windowCount, length: windowLength, seed });
    const pairs = sampleCausalPairs(windowCount, windowLength, pairsPerWindow, seed);

    for (let layer = 0; layer < model.config.numLayers; layer++) {
      const capture = await captureLayer(session, windows, layer);
      const inputs = { config: model.config, query: capture.query, key: capture.key, pairs };

      for (let kvHead = 0; kvHead < model.config.numKvHeads; kvHead++) {
        const where = `layer ${layer} KV head ${kvHead}`;
        const terms = computeChunkTerms(inputs, kvHead);
        const fast = greedyRanking(terms);
        const reference = bruteForceGreedy(inputs, kvHead);

        expect(fast.ranking, where).toEqual(reference.ranking);
        expect(fast.objective, where).toHaveLength(chunks);
        fast.objective.forEach((value, round) => {
          expect(closeRelative(value, reference.objective[round]), `${where} round ${round}`).toBe(true);
        });

        // Every chunk gets a first-round score, and each equals the from-scratch objective of {j}.
        const first = candidateObjectives(terms, []);
        for (let j = 0; j < chunks; j++) {
          expect(closeRelative(first[j], bruteForceObjective(inputs, kvHead, [j])), `${where} chunk ${j}`).toBe(true);
        }
      }
    }
  });

  it("reports progress and a valid ranking", async () => {
    const events: ProgressEvent[] = [];
    const ranking = await analyzeModel(session, model, ids, {
      strategy: "ropelite",
      windows: windowCount,
      windowLength,
      pairs: pairsPerWindow,
      seed,
      text: "tinystories_val.txt",
      onProgress: (event) => events.push(event),
    });

    const advances = events.filter((event) => event.type === "advance");
    expect(advances.map((event) => (event.type === "advance" ? event.current : -1))).toEqual(
      Array.from({ length: model.config.numLayers }, (_, layer) => layer + 1),
    );
    expect(events[0].type).toBe("start");
    expect(events.at(-1)!.type).toBe("end");
    expect(validateRanking(ranking, "memory")).toBe(ranking);
    expect(ranking.layers).toHaveLength(model.config.numLayers);
    expect(ranking.calibration).toEqual({
      text: "tinystories_val.txt",
      tokens: ids.length,
      windows: windowCount,
      windowLength,
      pairs: pairsPerWindow,
      seed,
    });

    // The default fingerprint covers every file the loader read, weights included, in load order.
    expect(model.source.files.some((file) => file.endsWith(weights))).toBe(true);
    const hash = createHash("sha256");
    for (const file of model.source.files) hash.update(await readFile(file));
    expect(ranking.model.fingerprint).toBe(hash.digest("hex"));
  });

  it("is deterministic for a seed", async () => {
    const options = { strategy: "ropelite" as const, windows: windowCount, windowLength, pairs: pairsPerWindow, fingerprint: "0".repeat(64) };

    const first = await analyzeModel(session, model, ids, { ...options, seed });
    // A one-byte budget captures one layer per pass; the default captures every layer in one pass.
    const again = await analyzeModel(session, model, ids, { ...options, seed, captureBudgetBytes: 1 });
    const other = await analyzeModel(session, model, ids, { ...options, seed: seed + 1 });

    expect(again.layers).toEqual(first.layers);
    expect(other.layers).not.toEqual(first.layers);
  });

  it("runs the baseline strategies", async () => {
    const options = { windows: windowCount, windowLength, pairs: pairsPerWindow, seed, fingerprint: "0".repeat(64) };
    const ascending = Array.from({ length: chunks }, (_, j) => j);

    const high = await analyzeModel(session, model, ids, { ...options, strategy: "high-freq" });
    const low = await analyzeModel(session, model, ids, { ...options, strategy: "low-freq" });
    const contribution = await analyzeModel(session, model, ids, { ...options, strategy: "contribution" });

    for (let layer = 0; layer < model.config.numLayers; layer++) {
      for (let kvHead = 0; kvHead < model.config.numKvHeads; kvHead++) {
        expect(high.layers[layer].kvHeads[kvHead]).toEqual({ ranking: ascending, objective: [] });
        expect(low.layers[layer].kvHeads[kvHead]).toEqual({ ranking: [...ascending].reverse(), objective: [] });
        const head = contribution.layers[layer].kvHeads[kvHead];
        expect([...head.ranking].sort((a, b) => a - b)).toEqual(ascending);
        expect(head.objective).toEqual([]);
      }
    }
  });
});
