// Cross-loader parity of q/k RoPE layouts. One random model is saved as a Hugging Face folder (half
// layout), a GGUF file and a llama2.c checkpoint (both interleaved). All three must give the same logits
// on the CPU backend, and those logits must match the float64 reference run on the in-memory weights.
// A second group checks that an explicit config.json head_dim that differs from hidden_size /
// num_attention_heads sizes both the projections and RoPE.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { argmax, weightNames, type Backend, type LoadedModel, type ModelConfig, type RopeLayout } from "@elitekv/core";
import { loadModel } from "@elitekv/models";
import { maxAbsDifference, tolerances } from "@elitekv/vitest-config/matchers";

import { createCpuBackend } from "../src/index.js";
import { halfToInterleavedRows } from "./support/interleaved-rows.js";
import { writeGgufModel, writeHuggingFaceModel, writeLlama2cModel } from "./support/model-format-writers.js";
import { tinyModel } from "./support/random-model.js";
import { referenceForward } from "./support/reference-forward.js";
import { interleavedToHalfRows } from "../../models/test/fixtures/tiny-llama.js";

type Format = "huggingface" | "gguf" | "llama2c";

const formats: readonly Format[] = ["huggingface", "gguf", "llama2c"];

const expectedSourceLayout: Record<Format, RopeLayout> = {
  huggingface: "half",
  gguf: "interleaved",
  llama2c: "interleaved",
};

/** Every token fed to a session, and the logits row of each position. */
interface GreedyRun {
  ids: number[];
  generated: number[];
  logits: Float32Array[];
}

let backend: Backend;
let folder: string;

beforeAll(async () => {
  backend = createCpuBackend({ threads: 2 });
  folder = await mkdtemp(join(tmpdir(), "elitekv-loader-parity-"));
});

afterAll(async () => {
  await backend?.dispose();
  if (folder !== undefined) await rm(folder, { recursive: true, force: true });
});

/** Prefills `prompt` with every row of logits kept, then feeds `steps` greedy tokens back one by one. */
async function runGreedy(model: LoadedModel, prompt: readonly number[], steps: number): Promise<GreedyRun> {
  const session = await backend.createSession(model);
  try {
    const prefill = await session.prefill(prompt, { logits: "all" });
    const logits: Float32Array[] = [];
    for (let row = 0; row < prefill.rows; row++) {
      logits.push(prefill.data.slice(row * prefill.vocabSize, (row + 1) * prefill.vocabSize));
    }

    const generated: number[] = [];
    for (let step = 0; step < steps; step++) {
      const next = argmax(logits[logits.length - 1]);
      generated.push(next);
      const decoded = await session.decode(next);
      logits.push(decoded.data.slice());
    }
    return { ids: [...prompt, ...generated], generated, logits };
  } finally {
    await session.dispose();
  }
}

/** Returns the positions whose logits differ by more than `tolerance`, so a failure names them. */
function positionsAbove(actual: ArrayLike<number>[], expected: ArrayLike<number>[], tolerance: number): number[] {
  expect(actual.length).toBe(expected.length);
  const positions: number[] = [];
  actual.forEach((row, position) => {
    if (!(maxAbsDifference(row, expected[position]) <= tolerance)) positions.push(position);
  });
  return positions;
}

/** Returns the config fields that decide the forward pass, leaving out the RoPE source layout. */
function forwardFields(config: ModelConfig) {
  return {
    hiddenSize: config.hiddenSize,
    intermediateSize: config.intermediateSize,
    numLayers: config.numLayers,
    numHeads: config.numHeads,
    numKvHeads: config.numKvHeads,
    headDim: config.headDim,
    vocabSize: config.vocabSize,
    maxPositionEmbeddings: config.maxPositionEmbeddings,
    tieWordEmbeddings: config.tieWordEmbeddings,
    ropeTheta: config.rope.theta,
    rotaryDim: config.rope.rotaryDim,
    ropeScaling: config.rope.scaling,
  };
}

/** Expects every weight of `expected` in `actual` with the same shape and bit-identical values. */
function expectSameWeights(actual: LoadedModel, expected: LoadedModel): void {
  expect(actual.weights.names().sort()).toEqual(expected.weights.names().sort());
  for (const name of expected.weights.names()) {
    const loaded = actual.weights.get(name);
    const original = expected.weights.get(name);
    expect(loaded.shape, name).toEqual(original.shape);
    expect(maxAbsDifference(loaded.data, original.data), name).toBe(0);
  }
}

describe("q/k RoPE layouts across loaders", () => {
  // Untied, so every loader also maps a separate output head. Contexts hold 64 positions.
  const model = tinyModel({
    hiddenSize: 32,
    intermediateSize: 48,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 8,
    vocabSize: 64,
    maxPositionEmbeddings: 64,
    tieWordEmbeddings: false,
    seed: 4711,
  });
  const prompt = [1, 17, 42, 5, 33, 8];
  const steps = 32;

  const loaded = new Map<Format, Promise<LoadedModel>>();
  const runs = new Map<Format, Promise<GreedyRun>>();

  /** Writes the model in `format` once and loads it through loadModel's format detection. */
  function load(format: Format): Promise<LoadedModel> {
    let pending = loaded.get(format);
    if (pending === undefined) {
      pending = (async () => {
        const target = join(folder, format);
        if (format === "huggingface") return loadModel(await writeHuggingFaceModel(model, target, { explicitHeadDim: false }));
        await mkdir(target, { recursive: true });
        if (format === "gguf") return loadModel(await writeGgufModel(model, join(target, "model.gguf")));
        return loadModel(await writeLlama2cModel(model, target));
      })();
      loaded.set(format, pending);
    }
    return pending;
  }

  function greedy(format: Format): Promise<GreedyRun> {
    let pending = runs.get(format);
    if (pending === undefined) {
      pending = load(format).then((loadedModel) => runGreedy(loadedModel, prompt, steps));
      runs.set(format, pending);
    }
    return pending;
  }

  it("fixture permutation inverts the transformers conversion", () => {
    const { numHeads, numKvHeads, headDim, hiddenSize } = model.config;
    const wq = model.weights.get(weightNames.queryProjection(0)).data;
    const wk = model.weights.get(weightNames.keyProjection(0)).data;

    const queryRoundTrip = interleavedToHalfRows(halfToInterleavedRows(wq, numHeads, headDim, hiddenSize), numHeads, headDim, hiddenSize);
    const keyRoundTrip = interleavedToHalfRows(halfToInterleavedRows(wk, numKvHeads, headDim, hiddenSize), numKvHeads, headDim, hiddenSize);

    expect(maxAbsDifference(queryRoundTrip, wq)).toBe(0);
    expect(maxAbsDifference(keyRoundTrip, wk)).toBe(0);
    expect(maxAbsDifference(halfToInterleavedRows(wq, numHeads, headDim, hiddenSize), wq)).toBeGreaterThan(0);
  });

  for (const format of formats) {
    it(`${format} config matches the written model`, async () => {
      const config = (await load(format)).config;

      expect(forwardFields(config)).toEqual(forwardFields(model.config));
      expect(config.rmsNormEps).toBeCloseTo(model.config.rmsNormEps, 10);
      expect(config.rope.sourceLayout).toBe(expectedSourceLayout[format]);
    });

    it(`${format} weights come back in the half layout`, async () => {
      expectSameWeights(await load(format), model);
    });
  }

  it("runs past position 20", async () => {
    const run = await greedy("huggingface");

    expect(run.generated).toHaveLength(steps);
    expect(run.logits).toHaveLength(prompt.length + steps);
  });

  for (const format of ["gguf", "llama2c"] as const) {
    it(`${format} logits equal huggingface at every position`, async () => {
      const [expected, actual] = await Promise.all([greedy("huggingface"), greedy(format)]);

      expect(positionsAbove(actual.logits, expected.logits, tolerances.float32Parity)).toEqual([]);
    });

    it(`${format} greedy ids equal huggingface`, async () => {
      const [expected, actual] = await Promise.all([greedy("huggingface"), greedy(format)]);

      expect(actual.generated).toEqual(expected.generated);
    });
  }

  for (const format of formats) {
    it(`${format} logits match the float64 reference`, async () => {
      const run = await greedy(format);
      const reference = referenceForward(model, run.ids).logits;

      expect(positionsAbove(run.logits, reference, tolerances.goldenLogits)).toEqual([]);
    });
  }
});

describe("explicit head_dim in config.json", () => {
  const cases = [
    { name: "head_dim 8 with hidden 24", headDim: 8, explicitHeadDim: true, seed: 31 },
    { name: "head_dim 6 from hidden / heads", headDim: 6, explicitHeadDim: false, seed: 37 },
  ];
  const ids = [1, 9, 23, 4, 50, 12, 7, 61, 30, 2, 18, 44];

  for (const { name, headDim, explicitHeadDim, seed } of cases) {
    const model = tinyModel({ hiddenSize: 24, numHeads: 4, numKvHeads: 2, headDim, vocabSize: 64, maxPositionEmbeddings: 64, seed });
    let loadedModel: Promise<LoadedModel> | undefined;
    const load = () => {
      loadedModel ??= writeHuggingFaceModel(model, join(folder, `head-dim-${headDim}`), { explicitHeadDim }).then((path) => loadModel(path));
      return loadedModel;
    };

    it(`${name} loads with that head size`, async () => {
      const { config, weights } = await load();

      expect(config.headDim).toBe(headDim);
      expect(config.rope.rotaryDim).toBe(headDim);
      expect(config.hiddenSize).toBe(24);
      expect(weights.get(weightNames.queryProjection(0)).shape).toEqual([4 * headDim, 24]);
      expect(weights.get(weightNames.keyProjection(0)).shape).toEqual([2 * headDim, 24]);
      expect(weights.get(weightNames.outputProjection(0)).shape).toEqual([24, 4 * headDim]);
    });

    it(`${name} logits match the float64 reference`, async () => {
      const expected = referenceForward(model, ids).logits;
      const session = await backend.createSession(await load());

      let rows: Float32Array[];
      try {
        const logits = await session.prefill(ids, { logits: "all" });
        expect(logits.rows).toBe(ids.length);
        rows = expected.map((_, row) => logits.data.slice(row * logits.vocabSize, (row + 1) * logits.vocabSize));
      } finally {
        await session.dispose();
      }

      expect(positionsAbove(rows, expected, tolerances.goldenLogits)).toEqual([]);
    });
  }
});
