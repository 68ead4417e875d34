// Option handling of the suite: the shared folder lookup, model and variant selection, tolerances and
// settings, each with the error a wrong value gets.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { InvalidArgumentError } from "@elitekv/core";
import { createCpuBackend } from "@elitekv/runtime-cpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  conformanceModels,
  defaultConformanceSettings,
  defaultConformanceTolerances,
  findRepositoryRoot,
  missingModelReason,
  resolveConformanceOptions,
  resolveSettings,
  resolveSharedDir,
  resolveTolerances,
  sharedModelsRequired,
} from "../src/index.js";

describe("resolveSharedDir", () => {
  let scratch: string;
  let packageDir: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "elitekv-conformance-"));
    packageDir = join(scratch, "repo", "packages", "ort");
    await mkdir(packageDir, { recursive: true });
    await writeFile(join(scratch, "repo", "pnpm-workspace.yaml"), "packages: []\n");
  });

  afterAll(() => rm(scratch, { recursive: true, force: true }));

  it("prefers the explicit folder", () => {
    const resolved = resolveSharedDir({ sharedDir: "models-here", env: { ELITEKV_SHARED_DIR: "/elsewhere" }, cwd: packageDir });

    expect(resolved).toBe(join(packageDir, "models-here"));
  });

  it("reads ELITEKV_SHARED_DIR next", () => {
    expect(resolveSharedDir({ env: { ELITEKV_SHARED_DIR: "/data/shared" }, cwd: packageDir })).toBe("/data/shared");
  });

  it("defaults to shared beside the repository root", () => {
    expect(findRepositoryRoot(packageDir)).toBe(join(scratch, "repo"));
    expect(resolveSharedDir({ env: {}, cwd: packageDir })).toBe(join(scratch, "shared"));
  });

  it("names a missing folder and a missing model", async () => {
    const shared = join(scratch, "shared");
    const stories = conformanceModels.find((model) => model.name === "stories260K")!;

    expect(missingModelReason(shared, stories)).toBe(
      `shared models folder not found at ${shared}; set ELITEKV_SHARED_DIR or the sharedDir option`,
    );
    await mkdir(join(shared, "models"), { recursive: true });
    expect(missingModelReason(shared, stories)).toBe(`model stories260K not found at ${join(shared, stories.path)}`);
  });

  it("requires shared models only for ELITEKV_REQUIRE_SHARED=1", () => {
    expect(sharedModelsRequired({ ELITEKV_REQUIRE_SHARED: "1" })).toBe(true);
    expect(sharedModelsRequired({ ELITEKV_REQUIRE_SHARED: "0" })).toBe(false);
    expect(sharedModelsRequired({})).toBe(false);
  });
});

describe("resolveConformanceOptions", () => {
  const createBackend = () => createCpuBackend({ threads: 1 });

  it("applies the defaults", () => {
    const resolved = resolveConformanceOptions({ name: "ort", createBackend });

    expect(resolved.models.map((model) => model.name)).toEqual(["stories260K", "aidreams260K", "tinystories-656k", "llama-2-tiny-random-gguf"]);
    expect(resolved.variants.map((variant) => variant.name)).toEqual(["base", "full-rank", "ratio-0.5", "ratio-0.25"]);
    expect(resolved.tolerances).toEqual(defaultConformanceTolerances);
    expect(resolved.settings).toEqual(defaultConformanceSettings);
    expect(resolved.timeoutMs).toBe(120_000);
  });

  it("selects models and variants in suite order", () => {
    const resolved = resolveConformanceOptions({
      name: "ort",
      createBackend,
      models: ["tinystories-656k", "stories260K"],
      variants: ["ratio-0.5", "base"],
      maxContext: 64,
      decodeSteps: 8,
    });

    expect(resolved.models.map((model) => model.name)).toEqual(["stories260K", "tinystories-656k"]);
    expect(resolved.variants.map((variant) => variant.name)).toEqual(["base", "ratio-0.5"]);
    expect(resolved.settings.maxContext).toBe(64);
    expect(resolved.settings.decodeSteps).toBe(8);
  });

  it("rejects an unknown model", () => {
    // @ts-expect-error: the name is not a ConformanceModelName.
    const run = () => resolveConformanceOptions({ name: "ort", createBackend, models: ["smollm"] });

    expect(run).toThrow(InvalidArgumentError);
    expect(run).toThrow(/models must list at least one of stories260K, .*; got smollm/);
  });

  it("rejects an empty name", () => {
    expect(() => resolveConformanceOptions({ name: " ", createBackend })).toThrow(/name must be a non-empty string/);
  });

  it("rejects a context too small", () => {
    const run = () => resolveConformanceOptions({ name: "ort", createBackend, maxContext: 40 });

    expect(run).toThrow(InvalidArgumentError);
    expect(run).toThrow("maxContext 40 cannot hold 24 prompt tokens and 32 decode steps; raise maxContext to at least 56");
  });
});

describe("resolveTolerances and resolveSettings", () => {
  it("overrides one tolerance", () => {
    expect(resolveTolerances({ capture: 5e-4 })).toEqual({ ...defaultConformanceTolerances, capture: 5e-4 });
  });

  it("rejects a negative tolerance", () => {
    expect(() => resolveTolerances({ logits: -1 })).toThrow("tolerance logits must be a finite number >= 0, got -1");
  });

  it("rejects an unknown tolerance", () => {
    // @ts-expect-error: "decode" is not a tolerance name.
    expect(() => resolveTolerances({ decode: 1e-3 })).toThrow(/unknown tolerance decode; the tolerances are logits, capture/);
  });

  it("rejects a split longer than the prompt", () => {
    expect(() => resolveSettings({ promptTokens: 10 })).toThrow("continuationSplit [5, 7] needs 12 prompt tokens but promptTokens is 10");
  });

  it("rejects zero decode steps", () => {
    expect(() => resolveSettings({ decodeSteps: 0 })).toThrow("decodeSteps must be a positive integer, got 0");
  });
});
