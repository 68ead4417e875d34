// Quality guard on tinystories-656k: PPL, KL and top-1 agreement of three strategies at three ratios
// must match fixtures/tinystories-656k-quality.json, and RoPElite must have the lowest PPL at each ratio.
// ELITEKV_RECORD_FIXTURES=1 records the figures again after an intended change of the pipeline.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { loadModel } from "@elitekv/models";
import { createCpuBackend } from "@elitekv/runtime-cpu";
import { relativeDifference, tolerances } from "@elitekv/vitest-config/matchers";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { beforeAll, describe, expect, it } from "vitest";

import type { SweepRow } from "../src/compare-cells.js";
import { runSweep, type SweepResult } from "../src/run-sweep.js";

const fixtureFile = join(import.meta.dirname, "fixtures", "tinystories-656k-quality.json");
const recording = process.env.ELITEKV_RECORD_FIXTURES === "1";

interface RecordedRow {
  ratio: number;
  strategy: string;
  ppl: number;
  klDivergence: number;
  top1Agreement: number;
}

interface QualityFixture {
  description: string;
  basePpl: number;
  rows: RecordedRow[];
}

const ratios = [0.5, 0.25, 0.125];
const strategies = ["ropelite", "uniform", "contribution"] as const;

describe.skipIf(!hasShared)("tinystories-656k conversion quality", () => {
  let result: SweepResult;
  let fixture: QualityFixture;

  beforeAll(async () => {
    const model = await loadModel(sharedPath("models", "tinystories-656k"));
    const text = readFileSync(sharedPath("data", "tinystories-valid-prefix", "tinystories_val.txt"), "utf8");

    // Evaluation on the first 12,000 characters, calibration from character 400,000 on.
    const evaluationIds = model.tokenizer.encode(text.slice(0, 12_000), { addBos: true });
    const calibrationIds = model.tokenizer.encode(text.slice(400_000, 406_000), { addBos: true }).slice(0, 1024);
    result = await runSweep({
      model,
      grid: { ratios, strategies: [...strategies], svdModes: ["activation"] },
      calibration: { ids: calibrationIds, label: "tinystories from 400000", seqLen: 128, pairs: 500, seed: 0 },
      evaluation: { ids: evaluationIds, window: 256 },
      runtime: { createBackend: () => createCpuBackend() },
      modelsPerPass: ratios.length * strategies.length,
    });

    if (recording) {
      fixture = {
        description:
          "tinystories-656k, TinyStories validation prefix: calibration 1024 tokens from character 400,000 (windows of 128, " +
          "500 pairs, seed 0), evaluation the first 12,000 characters in windows of 256, activation-aware SVD, CPU backend",
        basePpl: result.base.ppl,
        rows: result.rows.map(({ ratio, strategy, ppl, klDivergence, top1Agreement }) => ({ ratio, strategy, ppl, klDivergence, top1Agreement })),
      };
      writeFileSync(fixtureFile, `${JSON.stringify(fixture, null, 2)}\n`);
    }
    fixture = JSON.parse(readFileSync(fixtureFile, "utf8")) as QualityFixture;
  }, 300_000);

  function row(ratio: number, strategy: string): SweepRow {
    const found = result.rows.find((entry) => entry.ratio === ratio && entry.strategy === strategy);
    if (found === undefined) throw new Error(`missing sweep row for ratio ${ratio} and strategy ${strategy}`);
    return found;
  }

  it("matches the recorded base PPL", () => {
    expect(relativeDifference(result.base.ppl, fixture.basePpl)).toBeLessThan(tolerances.recordedQuality);
  });

  it.each(ratios.flatMap((ratio) => strategies.map((strategy) => [ratio, strategy] as const)))(
    "matches the recorded quality at ratio %s, %s",
    (ratio, strategy) => {
      const recorded = fixture.rows.find((entry) => entry.ratio === ratio && entry.strategy === strategy);
      expect(recorded, "recorded row").toBeDefined();
      const measured = row(ratio, strategy);

      expect(relativeDifference(measured.ppl, recorded!.ppl)).toBeLessThan(tolerances.recordedQuality);
      expect(relativeDifference(measured.klDivergence, recorded!.klDivergence)).toBeLessThan(tolerances.recordedQuality);
      expect(Math.abs(measured.top1Agreement - recorded!.top1Agreement)).toBeLessThan(0.002);
    },
  );

  it.each(ratios)("ranks RoPElite lowest at ratio %s", (ratio) => {
    const ropelite = row(ratio, "ropelite").ppl;
    expect(ropelite).toBeLessThanOrEqual(row(ratio, "uniform").ppl);
    expect(ropelite).toBeLessThanOrEqual(row(ratio, "contribution").ppl);
  });

  it("loses more quality at smaller caches", () => {
    const kl = ratios.map((ratio) => row(ratio, "ropelite").klDivergence);
    expect(kl[0]).toBeLessThan(kl[1]);
    expect(kl[1]).toBeLessThan(kl[2]);
  });
});
