// `elitekv sweep` on stories260K (G = 4 KV heads of h = 8, 5 layers). A spawned run is checked against
// `eval ppl` on the same text, with the files it writes and its JSON-lines progress. In-process runs
// check the rejections of overlapping texts and bad lists, which come before any model runs.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { readSweepReport, type SweepReport } from "@elitekv/sweep";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { formatCommandLine } from "../src/elitekv/shell-command-line.js";
import { parseJsonLines, runElitekv, runElitekvInProcess, type CliRun } from "./run-elitekv.js";

const storiesModel = sharedPath("models", "stories260K", "stories260K.bin");
const tinyStoriesText = sharedPath("data", "tinystories-valid-prefix", "tinystories_val.txt");

interface ProgressLine {
  type: string;
  task: string;
  metrics?: Record<string, number>;
}

/** Arguments of a small sweep: evaluation on the first 2,000 characters, calibration from character 400,000. */
function sweepArgs(out: string): string[] {
  return [
    "sweep",
    "--model", storiesModel,
    "--calib", tinyStoriesText,
    "--calib-skip-chars", "400000",
    "--calib-tokens", "512",
    "--seq-len", "64",
    "--pairs", "200",
    "--eval", tinyStoriesText,
    "--eval-max-chars", "2000",
    "--window", "128",
    "--ratios", "0.5,0.25",
    "--strategies", "ropelite,high-freq",
    "--svd", "weight,activation",
    "--out", out,
  ];
}

describe.skipIf(!hasShared)("elitekv sweep on stories260K", () => {
  let scratch: string;
  let run: CliRun;
  let output: { out: string; report: SweepReport };

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "elitekv-cli-sweep-"));
    // Without --quiet the progress goes to stderr as JSON lines, because stderr is a pipe.
    run = await runElitekv([...sweepArgs(join(scratch, "sweep")), "--json"], 240_000);
    if (run.code === 0) output = JSON.parse(run.stdout) as typeof output;
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it("exits 0 with one row per strategy, SVD mode and ratio", () => {
    expect(run.code, run.stderr).toBe(0);
    expect(output.report.rows).toHaveLength(8);
    for (const row of output.report.rows) {
      // ρ = 0.5 keeps r = 1 and d_c = 32 − 8 = 24; ρ = 0.25 keeps r = 1 and d_c = 16 − 8 = 8 (of 64 values per layer).
      expect(row.ropeChunks).toBe(1);
      expect(row.latentDim).toBe(row.ratio === 0.5 ? 24 : 8);
      expect(row.cacheRatio).toBe(row.ratio);
      expect(row.ppl).toBeGreaterThan(0);
    }
  });

  it("scores the base model as eval ppl does", async () => {
    const ppl = await runElitekv(
      ["eval", "ppl", "--model", storiesModel, "--text", tinyStoriesText, "--max-chars", "2000", "--window", "128", "--json", "--quiet"],
      120_000,
    );
    expect(ppl.code, ppl.stderr).toBe(0);
    const reference = JSON.parse(ppl.stdout) as { ppl: number; tokens: number; windows: number };

    expect(Math.abs(output.report.base.ppl / reference.ppl - 1)).toBeLessThan(1e-6);
    expect(output.report.evaluation.scoredTokens).toBe(reference.tokens);
    expect(output.report.evaluation.windows).toBe(reference.windows);
  });

  it("writes a valid report with its plots and rankings", async () => {
    const report = await readSweepReport(join(output.out, "report.json"));
    expect(report).toEqual(output.report);
    expect(report.backend).toBe("ort");
    expect(report.calibration.skipChars).toBe(400_000);
    expect(report.command).toBe(`elitekv ${sweepArgs(join(scratch, "sweep")).join(" ")} --json`);
    for (const file of [report.files.markdown, ...report.files.plots, ...report.files.rankings]) {
      expect(existsSync(join(output.out, file)), file).toBe(true);
    }
    expect(report.files.plots).toContain("ppl-vs-ratio.svg");
    expect(report.files.plots).toContain("elite-chunks-layer-4.svg");
  });

  it("reports progress per phase with KL", () => {
    const events = parseJsonLines(run.stderr) as ProgressLine[];
    const started = events.filter((event) => event.type === "start").map((event) => event.task);
    expect(started).toEqual(expect.arrayContaining(["rank", "covariance", "convert", "compare"]));

    const lastCompare = events.filter((event) => event.type === "advance" && event.task === "compare").at(-1)!;
    const metrics = Object.keys(lastCompare.metrics ?? {});
    expect(metrics).toContain("basePpl");
    expect(metrics).toContain("ppl ropelite/activation/0.25");
    expect(metrics).toContain("kl ropelite/activation/0.25");
    expect(metrics).toContain("top1 high-freq/weight/0.5");
  });
});

describe.skipIf(!hasShared)("elitekv sweep input checks", () => {
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "elitekv-cli-sweep-checks-"));
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  /** Replaces the value after `flag` in the small sweep's arguments. */
  function withOption(flag: string, value: string): string[] {
    const args = sweepArgs(join(scratch, "never-written"));
    args[args.indexOf(flag) + 1] = value;
    return [...args, "--quiet"];
  }

  it("rejects calibration text inside the evaluation text", async () => {
    const args = withOption("--calib-skip-chars", "30000");
    args[args.indexOf("--eval-max-chars") + 1] = "40000";
    const run = await runElitekvInProcess(args);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`calibration text (file ${tinyStoriesText}, characters 30000 to`);
    expect(run.stderr).toContain(`evaluation text (file ${tinyStoriesText}, first 40000 characters)`);
    expect(run.stderr).toMatch(/starting at calibration character 30000 and evaluation character 30000/);
    expect(existsSync(join(scratch, "never-written"))).toBe(false);
  });

  it("accepts calibration from character 400,000", async () => {
    // Fewer calibration tokens than one ranking window stop the run right after the overlap check passed.
    const args = withOption("--calib-tokens", "50");
    args[args.indexOf("--eval-max-chars") + 1] = "40000";
    const run = await runElitekvInProcess(args);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain("has 50 tokens, fewer than one window of --seq-len 64");
    expect(run.stderr).not.toContain("overlap");
  });

  it("rejects a skip beyond the calibration text", async () => {
    const run = await runElitekvInProcess(withOption("--calib-skip-chars", "5000000"));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--calib-skip-chars 5000000 skips the whole calibration text");
  });

  it("rejects evaluation text shorter than one window", async () => {
    const run = await runElitekvInProcess(withOption("--eval-max-chars", "100"));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/fewer than one window of 128; pass a longer --eval or a larger --eval-max-chars, or --window \d+ or less/);
  });

  it("rejects a repeated ratio", async () => {
    const run = await runElitekvInProcess(withOption("--ratios", "0.5,0.5"));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("lists 0.5 twice");
  });

  it("rejects an empty list entry", async () => {
    const run = await runElitekvInProcess(withOption("--svd", "weight,"));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("must be a comma-separated list without empty entries, got 'weight,'");
  });

  it("rejects an unknown strategy", async () => {
    const run = await runElitekvInProcess(withOption("--strategies", "ropelite,random"));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("'random' is not one of ropelite, uniform, contribution, high-freq, low-freq");
  });

  it("rejects a ratio the converter cannot reach", async () => {
    const run = await runElitekvInProcess(withOption("--ratios", "0.01"));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("ratio 0.01 gives ropeChunks 1 and latentDim -7");
  });
});

describe("formatCommandLine", () => {
  it("leaves plain words unquoted", () => {
    expect(formatCommandLine(["sweep", "--ratios", "0.5,0.25", "--out", "/tmp/a-b_c.d"])).toBe("elitekv sweep --ratios 0.5,0.25 --out /tmp/a-b_c.d");
  });

  it("quotes words the shell would split or expand", () => {
    expect(formatCommandLine(["--eval", "my file.txt", "--calib", "$HOME/*.txt"])).toBe("elitekv --eval 'my file.txt' --calib '$HOME/*.txt'");
  });

  it("escapes single quotes", () => {
    expect(formatCommandLine(["it's"])).toBe("elitekv 'it'\\''s'");
  });

  it("quotes an empty argument", () => {
    expect(formatCommandLine([""])).toBe("elitekv ''");
  });
});
