// A small sweep on stories260K (G = 4 KV heads of h = 8 dims, 5 layers) with the CPU backend: two
// strategies × two SVD modes × two ratios on disjoint TinyStories text, checked against direct
// conversions and comparisons, then written out and read back.
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { InvalidArgumentError, MapWeightStore, type InferenceSession, type LoadedModel } from "@elitekv/core";
import { convertModel } from "@elitekv/converter";
import { compareModels, computePerplexity } from "@elitekv/eval";
import { loadModel } from "@elitekv/models";
import { readRanking } from "@elitekv/ropelite";
import { createCpuBackend } from "@elitekv/runtime-cpu";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { collectCovariances } from "@elitekv/converter";
import { modelsPerPass, weightBytes } from "../src/models-per-pass.js";
import { runSweep, type SweepRequest, type SweepResult } from "../src/run-sweep.js";
import type { SweepRuntime } from "../src/sweep-runtime.js";
import { readSweepReport } from "../src/sweep-report-validation.js";
import { writeSweepOutputs, type WrittenSweep } from "../src/write-sweep-outputs.js";
import { elementsWithClass, parseXml, textContent } from "./xml-document.js";

const storiesModel = sharedPath("models", "stories260K", "stories260K.bin");
const tinyStoriesText = sharedPath("data", "tinystories-valid-prefix", "tinystories_val.txt");

const runtime: SweepRuntime = { createBackend: () => createCpuBackend() };
const window = 128;

/** Runs `work` on one CPU session per model and disposes the backend, with its sessions, afterwards. */
async function withCpuSessions<T>(models: LoadedModel[], work: (sessions: InferenceSession[]) => Promise<T>): Promise<T> {
  const backend = createCpuBackend();
  try {
    const sessions: InferenceSession[] = [];
    for (const model of models) sessions.push(await backend.createSession(model, { maxContext: 256 }));
    return await work(sessions);
  } finally {
    await backend.dispose();
  }
}

describe.skipIf(!hasShared)("runSweep on stories260K", () => {
  let model: LoadedModel;
  let request: SweepRequest;
  let result: SweepResult;
  let folder: string;
  let written: WrittenSweep;

  beforeAll(async () => {
    model = await loadModel(storiesModel);
    const text = readFileSync(tinyStoriesText, "utf8");
    // Evaluation on the first 2,000 characters, calibration from character 400,000 on.
    const evaluationIds = model.tokenizer.encode(text.slice(0, 2000), { addBos: true });
    const calibrationIds = model.tokenizer.encode(text.slice(400_000, 408_000), { addBos: true }).slice(0, 512);
    request = {
      model,
      grid: { ratios: [0.5, 0.25], strategies: ["ropelite", "high-freq"], svdModes: ["weight", "activation"] },
      calibration: { ids: calibrationIds, label: "tinystories from 400000", seqLen: 64, pairs: 200, seed: 0 },
      evaluation: { ids: evaluationIds, window },
      runtime,
      // Three passes of at most three models, so that rows from every pass are checked.
      modelsPerPass: 3,
    };
    result = await runSweep(request);

    folder = await mkdtemp(join(tmpdir(), "elitekv-sweep-"));
    written = await writeSweepOutputs(join(folder, "out"), result, {
      model,
      backend: "cpu",
      calibrationText: "tinystories_val.txt",
      skipChars: 400_000,
      evaluationText: "tinystories_val.txt, first 2000 characters",
      command: "elitekv sweep --model stories260K.bin",
    });
  });

  afterAll(async () => {
    if (folder !== undefined) await rm(folder, { recursive: true, force: true });
  });

  it("has one row per strategy, SVD mode and ratio", () => {
    expect(result.rows).toHaveLength(8);
    const cells = result.rows.map((row) => `${row.strategy}/${row.svd}/${row.ratio}`);
    expect(new Set(cells).size).toBe(8);
    expect(result.passes).toBe(3);
  });

  it("follows the converter's target rule", () => {
    // r = max(1, round(ρ·h/4)) and d_c = round(ρ·2·G·h) − 2·G·r with G = 4, h = 8:
    // ρ = 0.5 gives r = 1, d_c = 32 − 8 = 24; ρ = 0.25 gives r = round(0.5) = 1, d_c = 16 − 8 = 8.
    const expected = new Map([
      [0.5, { ropeChunks: 1, latentDim: 24, cacheRatio: 32 / 64 }],
      [0.25, { ropeChunks: 1, latentDim: 8, cacheRatio: 16 / 64 }],
    ]);
    for (const row of result.rows) {
      expect({ ropeChunks: row.ropeChunks, latentDim: row.latentDim, cacheRatio: row.cacheRatio }).toEqual(expected.get(row.ratio));
    }
  });

  it("scores the base model as computePerplexity does", async () => {
    const reference = await withCpuSessions([model], ([session]) => computePerplexity(session, request.evaluation.ids, { window }));
    expect(Math.abs(result.base.ppl / reference.ppl - 1)).toBeLessThan(1e-6);
    expect(result.evaluation.windows).toBe(reference.windows);
    expect(result.evaluation.scoredTokens).toBe(reference.tokens);
  });

  it("reports positive, consistent metrics", () => {
    for (const row of result.rows) {
      expect(row.ppl).toBeGreaterThan(0);
      expect(Number.isFinite(row.ppl)).toBe(true);
      expect(row.pplIncreasePct).toBeCloseTo(100 * (row.ppl / result.base.ppl - 1), 9);
      expect(row.klDivergence).toBeGreaterThan(0);
      expect(row.top1Agreement).toBeGreaterThanOrEqual(0);
      expect(row.top1Agreement).toBeLessThanOrEqual(1);
    }
  });

  it("ranks high-freq chunks in frequency order", () => {
    const highFrequency = result.rankings[1];
    expect(highFrequency.strategy).toBe("high-freq");
    for (const layer of highFrequency.layers) {
      for (const head of layer.kvHeads) expect(head.ranking).toEqual([0, 1, 2, 3]);
    }
    const ropelite = result.rankings[0];
    expect(ropelite.strategy).toBe("ropelite");
    expect(ropelite.layers[0].kvHeads[0].objective).toHaveLength(4);
  });

  it("matches a direct weight-SVD conversion and comparison", async () => {
    const row = result.rows.find((entry) => entry.strategy === "high-freq" && entry.svd === "weight" && entry.ratio === 0.25)!;
    const converted = await convertModel(model, result.rankings[1], { ratio: 0.25 }, { svd: "weight" });
    const eliteModel: LoadedModel = { ...model, weights: converted.weights, elite: converted.elite };
    const direct = await withCpuSessions([model, eliteModel], ([base, elite]) => compareModels(base, elite, request.evaluation.ids, { window }));

    expect(row.ppl).toBeCloseTo(direct.model.ppl, 9);
    expect(row.klDivergence).toBeCloseTo(direct.klDivergence, 9);
    expect(row.top1Agreement).toBe(direct.top1Agreement);
  });

  it("matches a direct activation-SVD conversion and comparison", async () => {
    const row = result.rows.find((entry) => entry.strategy === "ropelite" && entry.svd === "activation" && entry.ratio === 0.5)!;
    const covariances = await withCpuSessions([model], ([session]) =>
      collectCovariances(session, request.calibration.ids, { window: 256, onProgress: () => {} }),
    );
    const converted = await convertModel(model, result.rankings[0], { ratio: 0.5 }, { svd: "activation", covariances });
    const eliteModel: LoadedModel = { ...model, weights: converted.weights, elite: converted.elite };
    const direct = await withCpuSessions([model, eliteModel], ([base, elite]) => compareModels(base, elite, request.evaluation.ids, { window }));

    expect(row.ppl).toBeCloseTo(direct.model.ppl, 9);
    expect(row.klDivergence).toBeCloseTo(direct.klDivergence, 9);
    expect(row.top1Agreement).toBe(direct.top1Agreement);
  });

  it("writes every file and a valid report", async () => {
    const names = (await readdir(written.dir)).sort();
    expect(names).toEqual(
      [
        "elite-chunks-layer-0.svg",
        "elite-chunks-layer-1.svg",
        "elite-chunks-layer-2.svg",
        "elite-chunks-layer-3.svg",
        "elite-chunks-layer-4.svg",
        "greedy-objective.svg",
        "kl-vs-ratio.svg",
        "ppl-vs-ratio.svg",
        "ranking-high-freq.json",
        "ranking-ropelite.json",
        "report.json",
        "report.md",
        "top1-vs-ratio.svg",
      ].sort(),
    );

    const report = await readSweepReport(join(written.dir, "report.json"));
    expect(report.rows.map((row) => `${row.ratio} ${row.strategy} ${row.svd}`)).toEqual([
      "0.5 high-freq activation",
      "0.5 high-freq weight",
      "0.5 ropelite activation",
      "0.5 ropelite weight",
      "0.25 high-freq activation",
      "0.25 high-freq weight",
      "0.25 ropelite activation",
      "0.25 ropelite weight",
    ]);
    expect(report.base.ppl).toBe(result.base.ppl);
    expect(report.calibration).toMatchObject({ skipChars: 400_000, tokens: 512, seqLen: 64, windows: 8 });
    expect(await readRanking(join(written.dir, "ranking-ropelite.json"))).toEqual(result.rankings[0]);
  });

  it("writes well-formed plots with titles and axis labels", () => {
    for (const file of written.report.files.plots) {
      const root = parseXml(readFileSync(join(written.dir, file), "utf8"));
      const title = root.children.find((child) => typeof child !== "string" && child.name === "title");
      expect(title, file).toBeDefined();
      expect(elementsWithClass(root, "axis-label-x").length, file).toBeGreaterThan(0);
      expect(elementsWithClass(root, "axis-label-y").length, file).toBeGreaterThan(0);
    }

    const ppl = parseXml(readFileSync(join(written.dir, "ppl-vs-ratio.svg"), "utf8"));
    expect(elementsWithClass(ppl, "series")).toHaveLength(4);
    expect(textContent(elementsWithClass(ppl, "reference")[0])).toContain("base model");
    const greedy = parseXml(readFileSync(join(written.dir, "greedy-objective.svg"), "utf8"));
    expect(elementsWithClass(greedy, "series")).toHaveLength(1 + 5);
  });

  it("marks the ranking's first r chunks in the heatmaps", () => {
    const root = parseXml(readFileSync(join(written.dir, "elite-chunks-layer-2.svg"), "utf8"));
    const elite = elementsWithClass(root, "cell")
      .filter((cell) => cell.attributes["data-value"] === "1")
      .map((cell) => [Number(cell.attributes["data-row"]), Number(cell.attributes["data-column"])]);
    // Both ratios resolve to r = 1, so one panel shows each KV head's first ranked chunk.
    const expected = result.rankings[0].layers[2].kvHeads.map((head, kvHead) => [kvHead, head.ranking[0]]);
    expect(elite).toEqual(expected);
  });

  it("links the plots from report.md", () => {
    const markdown = readFileSync(join(written.dir, "report.md"), "utf8");
    expect(markdown).toContain(`**${result.base.ppl.toFixed(4)}**`);
    expect(markdown).toContain("(ppl-vs-ratio.svg)");
    expect(markdown).toContain("(elite-chunks-layer-4.svg)");
    expect(markdown).toContain("elitekv sweep --model stories260K.bin");
    expect(existsSync(join(written.dir, "report.json"))).toBe(true);
  });
});

describe.skipIf(!hasShared)("runSweep request checks", () => {
  let model: LoadedModel;
  const unusedRuntime: SweepRuntime = {
    createBackend: () => {
      throw new Error("the sweep created a backend before checking its request");
    },
  };

  beforeAll(async () => {
    model = await loadModel(storiesModel);
  });

  function request(overrides: Partial<SweepRequest>): SweepRequest {
    return {
      model,
      grid: { ratios: [0.5], strategies: ["high-freq"], svdModes: ["weight"] },
      calibration: { ids: Array.from({ length: 128 }, (_, i) => i + 1), label: "calibration", seqLen: 64, pairs: 10, seed: 0 },
      evaluation: { ids: Array.from({ length: 256 }, (_, i) => i + 1), window: 128 },
      runtime: unusedRuntime,
      fingerprint: "0".repeat(64),
      ...overrides,
    };
  }

  it("rejects a window beyond the context", async () => {
    const evaluation = { ids: Array.from({ length: 1024 }, () => 1), window: 1024 };
    await expect(runSweep(request({ evaluation }))).rejects.toThrow(/evaluation window must be an integer in 2\.\.512/);
  });

  it("rejects evaluation text shorter than one window", async () => {
    const evaluation = { ids: [1, 2, 3], window: 128 };
    await expect(runSweep(request({ evaluation }))).rejects.toThrow(InvalidArgumentError);
  });

  it("rejects calibration text shorter than one window", async () => {
    const calibration = { ids: [1, 2, 3], label: "c", seqLen: 64, pairs: 10, seed: 0 };
    await expect(runSweep(request({ calibration }))).rejects.toThrow(/calibration text has 3 tokens/);
  });

  it("rejects a ratio the converter cannot reach", async () => {
    // ρ = 0.01 gives r = 1 and d_c = round(0.64) − 8 < 1.
    await expect(runSweep(request({ grid: { ratios: [0.01], strategies: ["high-freq"], svdModes: ["weight"] } }))).rejects.toThrow(
      InvalidArgumentError,
    );
  });

  it("rejects a repeated strategy", async () => {
    const grid = { ratios: [0.5], strategies: ["high-freq" as const, "high-freq" as const], svdModes: ["weight" as const] };
    await expect(runSweep(request({ grid }))).rejects.toThrow(/strategies lists high-freq twice/);
  });
});

describe("modelsPerPass", () => {
  const shared = new Float32Array(1000);
  const fakeModel = {
    weights: new MapWeightStore(
      new Map([
        ["token_embedding", { shape: [10, 100], data: shared }],
        ["output_head", { shape: [10, 100], data: shared }],
        ["layers.0.wq", { shape: [10, 50], data: new Float32Array(500) }],
      ]),
    ),
  } as unknown as LoadedModel;

  it("counts tied weights once", () => {
    expect(weightBytes(fakeModel)).toBe((1000 + 500) * 4);
  });

  it("divides the budget by twice the weight bytes, minus the base session", () => {
    // 6000 bytes of weights, 12000 per session: 60000 bytes fit 5 sessions, 4 besides the base.
    expect(modelsPerPass(fakeModel, 60_000, 40)).toBe(4);
    expect(modelsPerPass(fakeModel, 60_000, 3)).toBe(3);
    expect(modelsPerPass(fakeModel, 1000, 40)).toBe(1);
  });

  it("rejects a non-positive budget", () => {
    expect(() => modelsPerPass(fakeModel, 0, 4)).toThrow(InvalidArgumentError);
  });
});
