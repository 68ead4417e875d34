// `elitekv recover` end to end on tinystories-656k converted to a 25% cache: the recovered checkpoint,
// its recovery record and perplexity, resuming after the process is killed, and the usage errors.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { convertModel, writeEliteKvCheckpoint } from "@elitekv/converter";
import { fileSha256, loadModel } from "@elitekv/models";
import { hasShared, repositoryRoot, sharedPath } from "@elitekv/vitest-config/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { runElitekv, runElitekvInProcess } from "./run-elitekv.js";

const baseModel = sharedPath("models", "tinystories-656k");
const storiesModel = sharedPath("models", "stories260K", "stories260K.bin");
const tinyStoriesText = sharedPath("data", "tinystories-valid-prefix", "tinystories_val.txt");

interface RecoverJson {
  out: string;
  method: string;
  text: string;
  tokens: number;
  windows: number;
  seqLen: number;
  layerSteps: number;
  layers: Array<{ layer: number; lossBefore: number; lossAfter: number; resumed: boolean }>;
  distillation?: { steps: number; learningRate: number; klBefore: number; klAfter: number; kept: boolean };
}

describe.skipIf(!hasShared)("elitekv recover on tinystories-656k", () => {
  let scratch: string;
  let converted: string;
  let calibration: string;
  let evaluation: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "elitekv-cli-recover-"));
    const text = readFileSync(tinyStoriesText, "utf8");
    calibration = join(scratch, "calibration.txt");
    evaluation = join(scratch, "evaluation.txt");
    await writeFile(calibration, text.slice(400_000, 440_000));
    await writeFile(evaluation, text.slice(0, 12_000));

    // Every KV head ranks its chunks 0, 1, 2, ...: a fixed ranking, so the test needs no analyze run.
    const base = await loadModel(baseModel);
    const ranking = {
      layers: Array.from({ length: base.config.numLayers }, () => ({
        kvHeads: Array.from({ length: base.config.numKvHeads }, () => ({ ranking: [0, 1, 2, 3, 4, 5, 6, 7] })),
      })),
    };
    converted = join(scratch, "converted");
    await writeEliteKvCheckpoint(converted, {
      model: base,
      converted: await convertModel(base, ranking, { ratio: 0.25 }, { svd: "weight" }),
      provenance: {
        ranking: { strategy: "ascending", calibration: {} },
        sourceSha256: await fileSha256(join(baseModel, "model.safetensors")),
        svd: "weight",
      },
      dtype: "f32",
    });
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  async function compare(model: string) {
    const args = ["eval", "compare", "--base", baseModel, "--model", model, "--text", evaluation, "--window", "256", "--json", "--quiet"];
    const comparison = await runElitekv(args, 120_000);
    expect(comparison.code, comparison.stderr).toBe(0);
    return JSON.parse(comparison.stdout) as { base: { ppl: number }; model: { ppl: number }; cacheRatio: number };
  }

  function recoverArgs(out: string, extra: string[] = []): string[] {
    return ["recover", "--base", baseModel, "--model", converted, "--text", calibration, "--tokens", "2048", "--seq-len", "128", ...extra, "--out", out];
  }

  it("writes a recovered checkpoint", async () => {
    const out = join(scratch, "recovered");
    const run = await runElitekv([...recoverArgs(out), "--json", "--quiet"], 120_000);
    expect(run.code, run.stderr).toBe(0);

    const result = JSON.parse(run.stdout) as RecoverJson;
    expect(result.out).toBe(out);
    expect(result.method).toBe("layerwise");
    expect(result.tokens).toBe(2048);
    expect(result.windows).toBe(16);
    expect(result.layers.map((layer) => layer.layer)).toEqual([0, 1]);
    for (const layer of result.layers) expect(layer.lossAfter).toBeLessThan(layer.lossBefore);
    expect(existsSync(`${out}.partial`)).toBe(false);

    const manifest = JSON.parse(readFileSync(join(out, "elitekv.json"), "utf8"));
    expect(manifest.recovery).toEqual({
      method: "layerwise",
      text: result.text,
      tokens: 2048,
      seqLen: 128,
      steps: 0,
      seed: 0,
      layers: result.layers.map(({ layer, lossBefore, lossAfter }) => ({ layer, lossBefore, lossAfter })),
    });
    expect(manifest.sourceSha256).toBe(JSON.parse(readFileSync(join(converted, "elitekv.json"), "utf8")).sourceSha256);

    const before = await compare(converted);
    const after = await compare(out);
    expect(after.cacheRatio).toBe(0.25);
    expect(after.model.ppl).toBeLessThan(before.model.ppl);
    expect(after.model.ppl).toBeGreaterThan(before.base.ppl);
  }, 240_000);

  it("resumes after a kill", async () => {
    const out = join(scratch, "resumed");
    const args = [...recoverArgs(out, ["--layer-steps", "40"])];

    // Kill the process as soon as it reports layer 0 finished; progress goes to stderr as JSON lines.
    const killed = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ["--conditions=elitekv-source", "--import", "tsx", "apps/cli/src/main.ts", ...args], {
        cwd: repositoryRoot,
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        stderr += chunk;
        if (/"task":"recover","current":1,/.test(stderr)) child.kill("SIGKILL");
      });
      child.on("error", reject);
      child.on("close", () => {
        clearTimeout(timer);
        resolve(stderr);
      });
    });
    expect(killed).toMatch(/"task":"recover","current":1,/);
    expect(killed).not.toMatch(/"task":"recover","current":2,/);
    expect(existsSync(join(`${out}.partial`, "layer-0.safetensors"))).toBe(true);
    expect(existsSync(out)).toBe(false);

    const run = await runElitekv([...args, "--json"], 120_000);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as RecoverJson;
    expect(result.layers.map((layer) => layer.resumed)).toEqual([true, false]);
    expect(result.layerSteps).toBe(40);
    expect(run.stderr).toMatch(/resuming: layers 0\.\.0 read from/);
    expect(existsSync(`${out}.partial`)).toBe(false);
  }, 240_000);

  it("distills a checkpoint", async () => {
    const out = join(scratch, "distilled");
    const run = await runElitekv([...recoverArgs(out, ["--method", "distill", "--steps", "40", "--lr", "0.001"]), "--json", "--quiet"], 180_000);
    expect(run.code, run.stderr).toBe(0);

    const result = JSON.parse(run.stdout) as RecoverJson;
    expect(result.method).toBe("distill");
    expect(result.layers).toEqual([]);
    expect(result.layerSteps).toBe(0);
    expect(result.distillation?.steps).toBe(40);
    expect(result.distillation?.learningRate).toBe(0.001);
    expect(result.distillation!.klAfter).toBeLessThan(result.distillation!.klBefore);
    expect(result.distillation!.kept).toBe(true);

    const manifest = JSON.parse(readFileSync(join(out, "elitekv.json"), "utf8"));
    expect(manifest.recovery).toEqual({
      method: "distill",
      text: result.text,
      tokens: 2048,
      seqLen: 128,
      steps: 0,
      seed: 0,
      layers: [],
      distillation: result.distillation,
    });

    const before = await compare(converted);
    const after = await compare(out);
    expect(after.model.ppl).toBeLessThan(before.model.ppl);
  }, 360_000);

  it("runs both methods in order", async () => {
    const out = join(scratch, "both");
    const run = await runElitekv([...recoverArgs(out, ["--method", "both", "--steps", "20", "--lr", "0.001"]), "--json", "--quiet"], 180_000);
    expect(run.code, run.stderr).toBe(0);

    const result = JSON.parse(run.stdout) as RecoverJson;
    expect(result.method).toBe("both");
    expect(result.layers.map((layer) => layer.layer)).toEqual([0, 1]);
    expect(result.distillation?.steps).toBe(20);
    const manifest = JSON.parse(readFileSync(join(out, "elitekv.json"), "utf8"));
    expect(manifest.recovery.method).toBe("both");
    expect(manifest.recovery.layers).toHaveLength(2);

    // The distillation starts from the layer-wise fit, whose KL is already below the conversion's.
    const distilledOnly = JSON.parse(readFileSync(join(scratch, "distilled", "elitekv.json"), "utf8")).recovery.distillation;
    expect(result.distillation!.klBefore).toBeLessThan(distilledOnly.klBefore);
    expect(existsSync(`${out}.partial`)).toBe(false);
  }, 360_000);

  it("rejects --steps for the layer-wise method", async () => {
    const run = await runElitekvInProcess(recoverArgs(join(scratch, "layer-steps"), ["--steps", "5"]));

    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--steps sets the distillation of --method distill or both; for the per-layer Adam steps of --method layerwise use --layer-steps/);
  });

  it("rejects a non-empty out folder", async () => {
    const out = join(scratch, "occupied");
    await mkdir(out);
    await writeFile(join(out, "keep.txt"), "x");

    const run = await runElitekvInProcess(recoverArgs(out));

    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/already exists and is not empty; pass --overwrite/);
  });

  it("rejects another base model", async () => {
    const run = await runElitekvInProcess([
      "recover",
      "--base",
      storiesModel,
      "--model",
      converted,
      "--text",
      calibration,
      "--out",
      join(scratch, "wrong-base"),
    ]);

    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/but the checkpoint was converted from a model with SHA-256 [0-9a-f]{64}; pass the base model/);
  });

  it("prints help with the options", async () => {
    const run = await runElitekvInProcess(["recover", "--help"]);

    expect(run.code).toBe(0);
    for (const option of ["--base", "--model", "--text", "--method", "--tokens", "--seq-len", "--layer-steps", "--layer-lr", "--steps", "--lr", "--seed", "--backend", "--threads", "--out", "--json", "--quiet"]) {
      expect(run.stdout).toContain(option);
    }
    expect(run.stdout).not.toMatch(/not\s+implemented/);
  });
});
