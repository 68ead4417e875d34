// Help, version and usage errors. A few cases spawn the CLI to check the real process exit code. The
// rest run in process through runCli, which returns the code that main.ts exits with.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { describe, expect, it } from "vitest";

import packageJson from "../package.json" with { type: "json" };
import { runElitekv, runElitekvInProcess } from "./run-elitekv.js";

const storiesModel = sharedPath("models", "stories260K", "stories260K.bin");
const tinyStoriesText = sharedPath("data", "tinystories-valid-prefix", "tinystories_val.txt");

describe.concurrent("spawned process", () => {
  it("--help exits 0", async () => {
    const run = await runElitekv(["--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("Usage: elitekv [options] [command]");
    for (const command of ["fetch", "info", "eval", "generate"]) expect(run.stdout).toContain(command);
    expect(run.stderr).toBe("");
  });

  it("unknown option exits 2", async () => {
    const run = await runElitekv(["info", "--model", storiesModel, "--bogus"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("unknown option '--bogus'");
    expect(run.stdout).toBe("");
  });

  it("missing required option exits 2", async () => {
    const run = await runElitekv(["info", "--json"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("required option '-m, --model <path>' not specified");
    expect(run.stdout).toBe("");
  });
});

describe("help", () => {
  it.each([["fetch"], ["info"], ["eval"], ["eval", "ppl"], ["eval", "compare"], ["generate"], ["analyze"], ["convert"], ["demo"]])("--help of %s exits 0", async (...command) => {
    const run = await runElitekvInProcess([...command, "--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Usage: elitekv ${command.join(" ")} [options]`);
    expect(run.stderr).toBe("");
  });

  it("help subcommand exits 0", async () => {
    const run = await runElitekvInProcess(["help", "generate"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("--max-new-tokens <count>");
  });

  it("fetch help lists pinned models", async () => {
    const run = await runElitekvInProcess(["fetch", "--help"]);
    expect(run.stdout).toContain("smollm2  SmolLM2-135M-Instruct");
  });

  it("--version prints the package version", async () => {
    const run = await runElitekvInProcess(["--version"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${packageJson.version}\n`);
  });
});

describe("usage errors", () => {
  it("missing --text exits 2", async () => {
    const run = await runElitekvInProcess(["eval", "ppl", "--model", storiesModel]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("required option '--text <source>' not specified");
  });

  it.each([
    [["eval", "ppl", "--model", "m", "--text", "t", "--window", "1"], "must be an integer >= 2, got 1"],
    [["eval", "ppl", "--model", "m", "--text", "t", "--max-chars", "many"], "must be an integer, got 'many'"],
    [["generate", "--model", "m", "--temperature", "-1"], "must be a number >= 0, got -1"],
    [["generate", "--model", "m", "--top-p", "0"], "must be in (0, 1], got 0"],
    [["generate", "--model", "m", "--seed", "-5"], "must be an integer between 0 and 4294967295, got -5"],
    [["generate", "--model", "m", "--threads", "0"], "must be an integer >= 1, got 0"],
  ])("invalid value %j exits 2", async (args, message) => {
    const run = await runElitekvInProcess(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stdout).toBe("");
  });

  it("unknown command exits 2", async () => {
    const run = await runElitekvInProcess(["compress"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("unknown command 'compress'");
  });

  it("missing command exits 2", async () => {
    const run = await runElitekvInProcess([]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("Usage: elitekv");
    expect(run.stdout).toBe("");
  });

  it("missing eval subcommand exits 2", async () => {
    const run = await runElitekvInProcess(["eval"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("Usage: elitekv eval");
  });

  it("unknown pinned model exits 2", async () => {
    const run = await runElitekvInProcess(["fetch", "gpt5", "--json"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("Allowed choices are smollm2");
    expect(run.stdout).toBe("");
  });

  it("unfetched model name exits 1", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "elitekv-cli-cache-"));
    try {
      const run = await runElitekvInProcess(["info", "--model", "smollm2", "--cache-dir", cacheDir, "--json"]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^error: /);
      expect(run.stderr).toContain(join(cacheDir, "models", "smollm2"));
      expect(run.stderr).toContain(`run \`elitekv fetch smollm2 --cache-dir ${cacheDir}\``);
      expect(run.stdout).toBe("");
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!hasShared)("usage errors with a model", () => {
  it("window beyond the context exits 2", async () => {
    const run = await runElitekvInProcess(["eval", "ppl", "--model", storiesModel, "--text", tinyStoriesText, "--window", "513", "--json"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--window 513 exceeds the context length of 512 tokens");
    expect(run.stdout).toBe("");
  });

  it("--chat without a template exits 2", async () => {
    const run = await runElitekvInProcess(["generate", "--model", storiesModel, "--prompt", "hi", "--chat", "--json"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${storiesModel} has no chat template`);
    expect(run.stdout).toBe("");
  });

  it("unknown text source exits 2", async () => {
    const run = await runElitekvInProcess(["eval", "ppl", "--model", storiesModel, "--text", "sotu:17", "--json"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("sotu:17");
    expect(run.stdout).toBe("");
  });
});

describe("elitekv command help", () => {
  it("demo hides the model override", async () => {
    const run = await runElitekvInProcess(["demo", "--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("--quick");
    expect(run.stdout).toContain("--work-dir");
    expect(run.stdout).not.toContain("--model");
  });

  it("analyze lists the strategies", async () => {
    const run = await runElitekvInProcess(["analyze", "--help"]);
    expect(run.code).toBe(0);
    // Commander wraps help text at the terminal width, so the check joins the lines first.
    const help = run.stdout.replace(/\s+/g, " ");
    expect(help).toContain('choices: "ropelite", "uniform", "contribution", "high-freq", "low-freq"');
  });

  it("rejects a ratio outside (0, 1]", async () => {
    const run = await runElitekvInProcess(["convert", "--model", "m", "--ranking", "r.json", "--ratio", "1.5", "--out", "o"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("must be a ratio in (0, 1], got 1.5");
  });
});
