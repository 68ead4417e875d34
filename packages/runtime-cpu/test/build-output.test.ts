import { spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";

import { build } from "tsup";
import { afterAll, describe, expect, it } from "vitest";

import { maxAbsDifference } from "@elitekv/vitest-config/matchers";

import { createCpuBackend } from "../src/index.js";
import { tinyModel } from "./support/random-model.js";

const packageFolder = fileURLToPath(new URL("..", import.meta.url));
// The ".elitekv-tmp-" prefix is ignored by git.
const buildFolder = `${packageFolder}.elitekv-tmp-build-${process.pid}`;

function runNode(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: packageFolder, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("build output", () => {
  afterAll(() => rm(buildFolder, { recursive: true, force: true }));

  it("starts workers from the tsup build", async () => {
    await build({
      entry: ["src/index.ts", "src/compute-worker.ts"],
      format: ["esm"],
      target: "node20",
      outDir: buildFolder,
      dts: false,
      silent: true,
      config: false,
    });
    const script = fileURLToPath(new URL("./support/built-backend.ts", import.meta.url));

    const result = await runNode(["--conditions=elitekv-source", "--import", "tsx", script, buildFolder]);

    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const backend = createCpuBackend({ threads: 1 });
    const session = await backend.createSession(tinyModel({ hiddenSize: 256, intermediateSize: 512, seed: 77 }));
    const expected = await session.prefill([1, 2, 3, 4, 5], { logits: "all" });
    await backend.dispose();
    expect(maxAbsDifference(JSON.parse(result.stdout) as number[], expected.data)).toBe(0);
  });
});
