// The EliteKV commands end to end on stories260K (G = 4 KV heads of h = 8, 5 layers): analyze, convert
// with both SVD modes, eval compare, generate --stats and demo --quick, as spawned processes.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { runElitekv, runElitekvInProcess } from "./run-elitekv.js";

const storiesModel = sharedPath("models", "stories260K", "stories260K.bin");
const storiesTokenizer = sharedPath("models", "stories260K", "tok512.bin");
const aidreamsModel = sharedPath("models", "aidreams260K", "aidreams260K.bin");
const tinyStoriesText = sharedPath("data", "tinystories-valid-prefix", "tinystories_val.txt");

const layers = 5;
const kvHeads = 4;
const headDim = 8;
const fullBytesPerToken = 2 * kvHeads * headDim * layers * 4;

/** Float32 cache bytes per token of an EliteKV layout: (2·G·r + d_c) values per layer. */
function eliteBytesPerToken(ropeChunks: number, latentDim: number): number {
  return (2 * kvHeads * ropeChunks + latentDim) * layers * 4;
}

function sha256OfFiles(files: string[]): string {
  const hash = createHash("sha256");
  for (const file of files) hash.update(readFileSync(file));
  return hash.digest("hex");
}

interface Comparison {
  base: { ppl: number };
  model: { ppl: number };
  pplIncreasePct: number;
  klDivergence: number;
  top1Agreement: number;
  cacheRatio: number;
  cacheBytesPerToken: { base: number; model: number };
}

interface Converted {
  out: string;
  ratio: number;
  ropeChunks: number;
  latentDim: number;
  cacheBytesPerToken: { base: number; model: number };
}

describe.skipIf(!hasShared)("elitekv pipeline on stories260K", () => {
  let scratch: string;
  let ranking: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "elitekv-cli-"));
    ranking = join(scratch, "ranking.json");
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  async function convert(name: string, args: string[]): Promise<Converted> {
    const run = await runElitekv(
      ["convert", "--model", storiesModel, "--ranking", ranking, ...args, "--out", join(scratch, name), "--json", "--quiet"],
      120_000,
    );
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as Converted;
  }

  async function compare(checkpoint: string): Promise<Comparison> {
    const args = ["eval", "compare", "--base", storiesModel, "--model", checkpoint, "--text", tinyStoriesText];
    const run = await runElitekv([...args, "--max-chars", "3000", "--window", "128", "--json", "--quiet"], 120_000);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as Comparison;
  }

  it("analyze writes a ranking", async () => {
    const args = ["analyze", "--model", storiesModel, "--text", tinyStoriesText, "--tokens", "1024", "--seq-len", "128"];
    const run = await runElitekv([...args, "--pairs", "300", "--out", ranking, "--json", "--quiet"], 120_000);
    expect(run.code, run.stderr).toBe(0);

    const result = JSON.parse(run.stdout) as {
      out: string;
      strategy: string;
      calibration: { tokens: number; windows: number; windowLength: number; pairs: number };
      firstChunks: number[][][];
    };
    expect(result.out).toBe(ranking);
    expect(existsSync(ranking)).toBe(true);
    expect(result.strategy).toBe("ropelite");
    expect(result.calibration.tokens).toBe(1024);
    // windows = ceil(1024 / 128).
    expect(result.calibration.windows).toBe(8);
    expect(result.calibration.windowLength).toBe(128);
    expect(result.calibration.pairs).toBe(300);
    expect(result.firstChunks).toHaveLength(layers);
    for (const layer of result.firstChunks) {
      expect(layer).toHaveLength(kvHeads);
      for (const chunks of layer) expect([...chunks].sort()).toEqual([0, 1, 2, 3]);
    }

    const written = JSON.parse(readFileSync(ranking, "utf8")) as { model: { fingerprint: string }; layers: unknown[] };
    // The llama2.c loader reads the weights, then the tokenizer.
    expect(written.model.fingerprint).toBe(sha256OfFiles([storiesModel, storiesTokenizer]));
    expect(written.layers).toHaveLength(layers);
  }, 120_000);

  it("full-rank conversion is lossless", async () => {
    const converted = await convert("full-rank", ["--rope-chunks", "4", "--latent-dim", "32"]);
    expect(converted.ratio).toBe(1);
    expect(converted.ropeChunks).toBe(4);
    expect(converted.latentDim).toBe(32);
    expect(converted.cacheBytesPerToken).toEqual({ base: fullBytesPerToken, model: eliteBytesPerToken(4, 32) });

    const comparison = await compare(converted.out);

    expect(comparison.klDivergence).toBeLessThan(1e-6);
    expect(comparison.top1Agreement).toBe(1);
    expect(comparison.cacheRatio).toBe(converted.ratio);
    expect(comparison.cacheBytesPerToken).toEqual({ base: fullBytesPerToken, model: eliteBytesPerToken(4, 32) });
    expect(Math.abs(comparison.model.ppl - comparison.base.ppl) / comparison.base.ppl).toBeLessThan(1e-4);
  }, 240_000);

  it("half cache raises perplexity", async () => {
    // ratio 0.5: r = round(0.5·8/4) = 1 and d_c = round(0.5·64) − 2·4·1 = 24.
    const weight = await convert("half-weight", ["--ratio", "0.5", "--svd", "weight"]);
    const activation = await convert("half-activation", ["--ratio", "0.5", "--svd", "activation", "--text", tinyStoriesText, "--tokens", "512", "--allocation", "rule"]);
    for (const converted of [weight, activation]) {
      expect(converted.ratio).toBe(0.5);
      expect(converted.ropeChunks).toBe(1);
      expect(converted.latentDim).toBe(24);
      expect(converted.cacheBytesPerToken.model).toBe(eliteBytesPerToken(1, 24));
    }
    const manifest = JSON.parse(readFileSync(join(activation.out, "elitekv.json"), "utf8")) as { svd: string };
    expect(manifest.svd).toBe("activation");

    const comparison = await compare(activation.out);

    expect(comparison.cacheRatio).toBe(activation.ratio);
    expect(comparison.cacheBytesPerToken.model).toBe(eliteBytesPerToken(1, 24));
    expect(comparison.model.ppl).toBeGreaterThan(comparison.base.ppl);
    expect(comparison.pplIncreasePct).toBeGreaterThan(0);
    expect(comparison.klDivergence).toBeGreaterThan(0);
    expect(comparison.top1Agreement).toBeLessThan(1);
  }, 240_000);

  it("searches the split of a ratio", async () => {
    const converted = (await convert("half-search", ["--ratio", "0.5", "--svd", "activation", "--text", tinyStoriesText, "--tokens", "768"])) as Converted & {
      allocation: { method: string; tokens: number; candidates: { ropeChunks: number; latentDim: number; ppl: number }[] };
    };

    // Budget 0.5·2·4·8 = 32 values: r = 1, 2, 3 leave d_c = 24, 16, 8.
    expect(converted.allocation.method).toBe("search");
    expect(converted.allocation.candidates.map((candidate) => [candidate.ropeChunks, candidate.latentDim])).toEqual([
      [1, 24],
      [2, 16],
      [3, 8],
    ]);
    // 768 calibration ids hold 3 windows of 256, so all 768 are scored.
    expect(converted.allocation.tokens).toBe(768);
    const best = converted.allocation.candidates.reduce((a, b) => (b.ppl < a.ppl ? b : a));
    expect(converted.ropeChunks).toBe(best.ropeChunks);
    expect(converted.latentDim).toBe(best.latentDim);
    expect(converted.ratio).toBe(0.5);
    const manifest = JSON.parse(readFileSync(join(converted.out, "elitekv.json"), "utf8")) as { allocation: unknown };
    expect(manifest.allocation).toEqual(converted.allocation);
  }, 240_000);

  it("splits the latent by the spectra", async () => {
    const converted = (await convert("half-spectrum", ["--ratio", "0.5", "--latent-allocation", "spectrum"])) as Converted & { latentDims: number[] };

    // The 5 layers share 5 · 24 latent dims, at least ceil(24 / 4) = 6 each, so the cache size is that of d_c = 24.
    expect(converted.latentDims).toHaveLength(5);
    expect(converted.latentDims.reduce((sum, dim) => sum + dim, 0)).toBe(120);
    expect(new Set(converted.latentDims).size).toBeGreaterThan(1);
    for (const dim of converted.latentDims) expect(dim).toBeGreaterThanOrEqual(6);
    expect(converted.ratio).toBe(0.5);
    expect(converted.cacheBytesPerToken.model).toBe(eliteBytesPerToken(1, 24));
    const manifest = JSON.parse(readFileSync(join(converted.out, "elitekv.json"), "utf8")) as { elite: { latentDims: number[] } };
    expect(manifest.elite.latentDims).toEqual(converted.latentDims);

    const comparison = await compare(converted.out);
    expect(comparison.cacheRatio).toBe(0.5);
    expect(comparison.model.ppl).toBeGreaterThan(comparison.base.ppl);
  }, 240_000);

  it("compares several models in one run", async () => {
    const checkpoints = [join(scratch, "half-weight"), join(scratch, "half-activation")];
    const args = ["eval", "compare", "--base", storiesModel, "--model", checkpoints[0], "--model", checkpoints[1], "--text", tinyStoriesText];
    const run = await runElitekv([...args, "--max-chars", "3000", "--window", "128", "--json", "--quiet"], 120_000);
    expect(run.code, run.stderr).toBe(0);

    const both = JSON.parse(run.stdout) as Comparison[];
    expect(both).toHaveLength(2);
    for (let m = 0; m < 2; m++) {
      const alone = await compare(checkpoints[m]);
      expect({ ...both[m], seconds: 0 }).toEqual({ ...alone, seconds: 0 });
    }
    expect(both[0].klDivergence).not.toBe(both[1].klDivergence);
  }, 240_000);

  it("generate --stats reports the cache", async () => {
    const checkpoint = join(scratch, "half-weight");
    const args = ["generate", "--model", checkpoint, "--prompt", "Once upon a time", "-n", "6", "--seed", "1"];
    const run = await runElitekv([...args, "--stats", "--json", "--quiet"]);
    expect(run.code, run.stderr).toBe(0);

    const result = JSON.parse(run.stdout) as {
      promptTokens: number;
      generatedTokens: number;
      stats: { cache: { kind: string; bytesUsed: number; bytesPerToken: number; tokens: number } };
    };
    // The last generated token is sampled but never fed, so it takes no cache slot.
    const cachedTokens = result.promptTokens + result.generatedTokens - 1;
    expect(result.stats.cache.kind).toBe("elitekv");
    expect(result.stats.cache.bytesPerToken).toBe(eliteBytesPerToken(1, 24));
    expect(result.stats.cache.tokens).toBe(cachedTokens);
    expect(result.stats.cache.bytesUsed).toBe(cachedTokens * eliteBytesPerToken(1, 24));
    expect(run.stderr).toMatch(/^stats: elitekv KV cache, \d+ bytes used for \d+ tokens, 640 bytes per token\n/);
    expect(run.stderr).toMatch(/stats: prefill \d+ tokens at [\d.]+ tokens\/s, decode 6 tokens at [\d.]+ tokens\/s\n$/);
  }, 120_000);

  it("rejects another model's ranking", async () => {
    const args = ["convert", "--model", aidreamsModel, "--ranking", ranking, "--ratio", "0.5", "--out", join(scratch, "other")];
    const run = await runElitekvInProcess([...args, "--quiet"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(sha256OfFiles([storiesModel, storiesTokenizer]));
    expect(run.stderr).toContain(aidreamsModel);
    expect(existsSync(join(scratch, "other"))).toBe(false);
  });

  it("rejects an infeasible ratio", async () => {
    // ratio 0.05: r = 1 needs 8 of the 3 cached values per token, so d_c would be negative.
    const args = ["convert", "--model", storiesModel, "--ranking", ranking, "--ratio", "0.05", "--out", join(scratch, "tiny")];
    const run = await runElitekvInProcess([...args, "--quiet"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/ratios from [\d.]+ to [\d.]+ work for this model/);
    expect(run.stdout).toBe("");
  });

  it("requires --text for activation", async () => {
    const args = ["convert", "--model", storiesModel, "--ranking", ranking, "--ratio", "0.5", "--svd", "activation"];
    const run = await runElitekvInProcess([...args, "--out", join(scratch, "no-text"), "--quiet"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("pass --text");
  });

  it("requires exactly one target", async () => {
    const both = ["--ratio", "0.5", "--rope-chunks", "1", "--latent-dim", "8"];
    const bothRun = await runElitekvInProcess(["convert", "--model", storiesModel, "--ranking", ranking, ...both, "--out", join(scratch, "x")]);
    const noneRun = await runElitekvInProcess(["convert", "--model", storiesModel, "--ranking", ranking, "--out", join(scratch, "x")]);
    expect(bothRun.code).toBe(2);
    expect(bothRun.stderr).toContain("not both");
    expect(noneRun.code).toBe(2);
    expect(noneRun.stderr).toContain("cache target is missing");
  });
});

describe.skipIf(!hasShared)("demo --quick", () => {
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "elitekv-demo-"));
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it("runs the pipeline on a tiny model", async () => {
    const run = await runElitekv(["demo", "--quick", "--model", storiesModel, "--work-dir", scratch, "--json", "--quiet"], 120_000);
    expect(run.code, run.stderr).toBe(0);

    const result = JSON.parse(run.stdout) as {
      checkpoint: string;
      ratio: number;
      cacheRatio: number;
      cacheBytesPerToken: { base: number; model: number };
      base: { ppl: number };
      eliteKv: { ppl: number };
      evalTokens: number;
      samples: { base: { tokens: number }; model: { tokens: number } };
    };
    // ratio 0.25: r = round(0.25·8/4) = 1 (rounded half up) and d_c = round(0.25·64) − 8 = 8.
    expect(result.ratio).toBe(0.25);
    expect(result.cacheRatio).toBe(0.25);
    expect(result.cacheBytesPerToken).toEqual({ base: fullBytesPerToken, model: eliteBytesPerToken(1, 8) });
    expect(result.checkpoint).toBe(join(scratch, "elitekv-25"));
    expect(existsSync(join(scratch, "ranking.json"))).toBe(true);
    // Two windows of 64 ids, 63 predictions each.
    expect(result.evalTokens).toBe(126);
    expect(result.base.ppl).toBeGreaterThan(1);
    expect(result.eliteKv.ppl).toBeGreaterThan(1);
    expect(result.samples.base.tokens).toBeLessThanOrEqual(8);
    expect(result.samples.model.tokens).toBeLessThanOrEqual(8);
  }, 120_000);
});
