// `elitekv eval ppl` end to end, as a spawned process that is not attached to a terminal.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { tolerances } from "@elitekv/vitest-config/matchers";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { describe, expect, it } from "vitest";

import { parseJsonLines, runElitekv, runElitekvInProcess } from "./run-elitekv.js";

const storiesModel = sharedPath("models", "stories260K", "stories260K.bin");
const storiesGolden = sharedPath("models", "stories260K", "golden.json");
const tinyStoriesText = sharedPath("data", "tinystories-valid-prefix", "tinystories_val.txt");

describe.skipIf(!hasShared)("eval ppl", () => {
  it("matches the stories260K golden perplexity", async () => {
    const golden = JSON.parse(readFileSync(storiesGolden, "utf8")) as { ppl: number };
    const args = ["eval", "ppl", "--model", storiesModel, "--text", tinyStoriesText, "--max-chars", "40000"];
    const run = await runElitekv([...args, "--window", "512", "--json"], 300_000);
    expect(run.code, run.stderr).toBe(0);

    const result = JSON.parse(run.stdout) as Record<string, number>;
    expect(Object.keys(result)).toEqual(["ppl", "meanNll", "tokens", "windows", "seconds"]);
    expect(golden.ppl).toBeCloseTo(4.0717, 4);
    expect(Math.abs(result.ppl - golden.ppl) / golden.ppl).toBeLessThan(tolerances.goldenPerplexity);
    expect(result.meanNll).toBeCloseTo(Math.log(result.ppl), 12);
    // 19175 ids (BOS included) make 37 full windows of 512, and each window scores 511 predictions.
    expect(result.windows).toBe(37);
    expect(result.tokens).toBe(37 * 511);
    expect(result.seconds).toBeGreaterThan(0);

    // stderr is a pipe here, so every line of it is one ProgressEvent as JSON.
    const events = parseJsonLines(run.stderr) as Array<{ type: string; task: string }>;
    for (const event of events) {
      expect(["start", "advance", "end", "info"]).toContain(event.type);
      expect(typeof event.task).toBe("string");
    }
    expect(events).toContainEqual(expect.objectContaining({ type: "start", task: "perplexity", total: 37 }));
    expect(events).toContainEqual(expect.objectContaining({ type: "end", task: "perplexity" }));
    expect(events).toContainEqual(expect.objectContaining({ type: "info", task: "tokenize" }));
  });

  it("gives the same perplexity on both backends", async () => {
    const args = ["eval", "ppl", "--model", storiesModel, "--text", tinyStoriesText, "--max-chars", "6000", "--window", "256"];

    const results: Record<string, number>[] = [];
    for (const backend of ["cpu", "ort"]) {
      const run = await runElitekv([...args, "--backend", backend, "--json", "--quiet"], 120_000);
      expect(run.code, run.stderr).toBe(0);
      results.push(JSON.parse(run.stdout) as Record<string, number>);
    }

    expect(results[1].tokens).toBe(results[0].tokens);
    expect(Math.abs(results[1].meanNll - results[0].meanNll)).toBeLessThan(1e-5);
  }, 240_000);

  it("rejects quantized weights on the CPU backend", async () => {
    const args = ["eval", "ppl", "--model", storiesModel, "--text", tinyStoriesText, "--max-chars", "2000", "--window", "64"];
    const run = await runElitekvInProcess([...args, "--backend", "cpu", "--weight-dtype", "q8", "--json", "--quiet"]);

    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/--weight-dtype q8 needs --backend ort/);
  });

  it("names the flags when the text is shorter than a window", async () => {
    const args = ["eval", "ppl", "--model", storiesModel, "--text", "sotu:2001", "--max-chars", "10", "--window", "64"];
    const run = await runElitekvInProcess([...args, "--json", "--quiet"]);

    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    // "Mr. Speake", the first 10 characters of the 2001 address, is BOS plus 8 ids for stories260K.
    expect(run.stderr).toContain("first 10 characters tokenizes to 9 ids with BOS, fewer than one window of 64");
    expect(run.stderr).toContain("pass a longer --text or a larger --max-chars, or --window 9 or less");
  });

  it("rejects an empty text file without suggesting a window", async () => {
    const emptyText = join(mkdtempSync(join(tmpdir(), "elitekv-eval-")), "empty.txt");
    writeFileSync(emptyText, "");
    const run = await runElitekvInProcess(["eval", "ppl", "--model", storiesModel, "--text", emptyText, "--json", "--quiet"]);

    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe(`error: file ${emptyText} tokenizes to 1 id with BOS, so there is no token to score; pass a non-empty --text\n`);
  });
});
