// report.json validation: a consistent report passes, and each broken field is rejected with an error
// that names it.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { CorruptFileError, FileNotFoundError, UnsupportedVersionError } from "@elitekv/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { readSweepReport, validateSweepReport } from "../src/sweep-report-validation.js";
import { validReport } from "./report-fixture.js";

type Mutation = [name: string, mutate: (report: any) => void, field: string];

const mutations: Mutation[] = [
  ["missing schemaVersion", (report) => delete report.schemaVersion, "schemaVersion"],
  ["missing model", (report) => delete report.model, "model"],
  ["empty model path", (report) => (report.model.path = ""), "model.path"],
  ["short fingerprint", (report) => (report.model.fingerprint = "abc"), "model.fingerprint"],
  ["fractional layer count", (report) => (report.model.config.layers = 2.5), "model.config.layers"],
  ["odd head dim", (report) => (report.model.config.headDim = 7), "model.config.headDim"],
  ["heads not a multiple of KV heads", (report) => (report.model.config.kvHeads = 3), "model.config.kvHeads"],
  ["zero RoPE theta", (report) => (report.model.config.ropeTheta = 0), "model.config.ropeTheta"],
  ["missing backend", (report) => delete report.backend, "backend"],
  ["negative skipChars", (report) => (report.calibration.skipChars = -1), "calibration.skipChars"],
  ["calibration windows off by one", (report) => (report.calibration.windows = 9), "calibration.windows"],
  ["seed of 2^32", (report) => (report.calibration.seed = 2 ** 32), "calibration.seed"],
  ["evaluation text that is a number", (report) => (report.evaluation.text = 3), "evaluation.text"],
  ["evaluation window of 1", (report) => (report.evaluation.window = 1), "evaluation.window"],
  ["evaluation windows off by one", (report) => (report.evaluation.windows = 8), "evaluation.windows"],
  ["scored tokens off by one", (report) => (report.evaluation.scoredTokens = 890), "evaluation.scoredTokens"],
  ["base ppl that is not exp(meanNll)", (report) => (report.base.ppl = 4), "base.ppl"],
  ["base meanNll that is a string", (report) => (report.base.meanNll = "1.5"), "base.meanNll"],
  ["empty rows", (report) => (report.rows = []), "rows"],
  ["row that is null", (report) => (report.rows[1] = null), "rows[1]"],
  ["ratio above 1", (report) => (report.rows[0].ratio = 1.5), "rows[0].ratio"],
  ["unknown strategy", (report) => (report.rows[0].strategy = "random"), "rows[0].strategy"],
  ["unknown SVD mode", (report) => (report.rows[0].svd = "qr"), "rows[0].svd"],
  ["repeated row", (report) => (report.rows[1] = { ...report.rows[0] }), "rows[1]"],
  ["ropeChunks above headDim / 2", (report) => (report.rows[0].ropeChunks = 5), "rows[0].ropeChunks"],
  ["latentDim of 0", (report) => (report.rows[0].latentDim = 0), "rows[0].latentDim"],
  ["cacheRatio that r and d_c do not give", (report) => (report.rows[0].cacheRatio = 0.49), "rows[0].cacheRatio"],
  ["negative ppl", (report) => (report.rows[2].ppl = -5), "rows[2].ppl"],
  ["ppl of null (Infinity in JSON)", (report) => (report.rows[2].ppl = null), "rows[2].ppl"],
  ["ppl increase that ppl does not give", (report) => (report.rows[2].pplIncreasePct += 1), "rows[2].pplIncreasePct"],
  ["negative KL", (report) => (report.rows[3].klDivergence = -0.1), "rows[3].klDivergence"],
  ["top-1 agreement above 1", (report) => (report.rows[3].top1Agreement = 1.01), "rows[3].top1Agreement"],
  ["missing weight error", (report) => delete report.rows[3].meanWeightRelativeError, "rows[3].meanWeightRelativeError"],
  ["rows out of order", (report) => report.rows.reverse(), "rows[1]"],
  ["negative duration", (report) => (report.timings.compareSeconds = -1), "timings.compareSeconds"],
  ["missing total time", (report) => delete report.timings.totalSeconds, "timings.totalSeconds"],
  ["zero models per pass", (report) => (report.passes.modelsPerPass = 0), "passes.modelsPerPass"],
  ["plot path outside the folder", (report) => (report.files.plots = ["../ppl.svg"]), "files.plots[0]"],
  ["rankings that are not an array", (report) => (report.files.rankings = "ranking.json"), "files.rankings"],
  ["empty command", (report) => (report.command = ""), "command"],
];

function fieldOfError(report: unknown): string | undefined {
  try {
    validateSweepReport(report, "report.json");
  } catch (error) {
    expect(error).toBeInstanceOf(CorruptFileError);
    const typed = error as CorruptFileError;
    expect(typed.message).toContain("report.json");
    return typed.field;
  }
  return undefined;
}

describe("validateSweepReport", () => {
  it("accepts a consistent report", () => {
    const report = validReport();
    expect(validateSweepReport(report, "report.json")).toBe(report);
  });

  it("accepts a report without a command", () => {
    const report = validReport();
    delete report.command;
    expect(validateSweepReport(report, "report.json")).toBe(report);
  });

  it.each(mutations)("rejects %s", (_, mutate, field) => {
    const report = validReport();
    mutate(report);
    expect(fieldOfError(report)).toBe(field);
  });

  it("rejects a root that is not an object", () => {
    expect(fieldOfError([validReport()])).toBe("(root)");
    expect(fieldOfError(null)).toBe("(root)");
  });

  it("rejects another schema version as unsupported", () => {
    const report = { ...validReport(), schemaVersion: 2 };
    expect(() => validateSweepReport(report, "report.json")).toThrow(UnsupportedVersionError);
  });
});

describe("readSweepReport", () => {
  let folder: string;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), "elitekv-sweep-report-"));
  });

  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it("reads a written report", async () => {
    const path = join(folder, "report.json");
    await writeFile(path, JSON.stringify(validReport()));
    expect(await readSweepReport(path)).toEqual(validReport());
  });

  it("rejects invalid JSON naming the file", async () => {
    const path = join(folder, "broken.json");
    await writeFile(path, "{ not json");
    await expect(readSweepReport(path)).rejects.toThrow(CorruptFileError);
    await expect(readSweepReport(path)).rejects.toThrow(path);
  });

  it("rejects a missing file", async () => {
    await expect(readSweepReport(join(folder, "missing.json"))).rejects.toThrow(FileNotFoundError);
  });
});
