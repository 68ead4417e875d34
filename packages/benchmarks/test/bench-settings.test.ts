import { availableParallelism } from "node:os";

import { InvalidArgumentError } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { benchConfigurationLabel, parseBenchConfiguration, readBenchSettings } from "../src/index.js";

describe("readBenchSettings", () => {
  it("uses the decode-context defaults for an empty environment", () => {
    const settings = readBenchSettings({});
    expect(settings.backend).toBe("ort");
    expect(settings.contexts).toEqual([512, 2048, 4096, 8192]);
    expect(settings.configurations).toEqual([{ kind: "full" }, { kind: "elitekv", ratio: 0.5 }, { kind: "elitekv", ratio: 0.25 }]);
    expect(settings.runs).toBe(5);
    expect(settings.decodeSteps).toBe(32);
    expect(settings.warmupSteps).toBe(2);
    expect(settings.prefillChunk).toBe(512);
    expect(settings.prefillRuns).toBe(3);
    expect(settings.threads).toBe(availableParallelism());
    expect(settings.weightDtype).toBe("f32");
    expect(settings.weightBytesPerElement).toBe(4);
    expect(settings.peer).toBe(true);
    expect(settings.peerInstall).toBe(true);
    expect(settings.modelPath).toBeUndefined();
  });

  it("reads every variable", () => {
    const settings = readBenchSettings({
      ELITEKV_BENCH_BACKEND: "cpu",
      ELITEKV_BENCH_CONTEXTS: " 64, 128 ",
      ELITEKV_BENCH_CONFIGS: "full,0.125",
      ELITEKV_BENCH_RUNS: "2",
      ELITEKV_BENCH_DECODE_STEPS: "4",
      ELITEKV_BENCH_WARMUP_STEPS: "0",
      ELITEKV_BENCH_PREFILL_CHUNK: "32",
      ELITEKV_BENCH_PREFILL_RUNS: "1",
      ELITEKV_BENCH_THREADS: "3",
      ELITEKV_BENCH_WEIGHT_DTYPE: "q8",
      ELITEKV_BENCH_COPY_MIB: "16",
      ELITEKV_BENCH_PEER: "0",
      ELITEKV_BENCH_PEER_INSTALL: "false",
      ELITEKV_BENCH_CHILD_TIMEOUT_S: "60",
      ELITEKV_SMOLLM2_GGUF: "/models/smollm2.gguf",
    });
    expect(settings).toMatchObject({
      backend: "cpu",
      contexts: [64, 128],
      configurations: [{ kind: "full" }, { kind: "elitekv", ratio: 0.125 }],
      runs: 2,
      decodeSteps: 4,
      warmupSteps: 0,
      prefillChunk: 32,
      prefillRuns: 1,
      threads: 3,
      weightDtype: "q8",
      // One code byte plus a 4-byte scale per block of 32.
      weightBytesPerElement: 1.125,
      copyMebibytes: 16,
      peer: false,
      peerInstall: false,
      childTimeoutSeconds: 60,
      modelPath: "/models/smollm2.gguf",
    });
  });

  it("takes per-benchmark defaults", () => {
    const settings = readBenchSettings({}, { backend: "cpu", contexts: [512, 4096], configurations: "full" });
    expect(settings.backend).toBe("cpu");
    expect(settings.contexts).toEqual([512, 4096]);
    expect(settings.configurations).toEqual([{ kind: "full" }]);
  });

  it("rejects bad values naming the variable", () => {
    expect(() => readBenchSettings({ ELITEKV_BENCH_BACKEND: "gpu" })).toThrow(/ELITEKV_BENCH_BACKEND/);
    expect(() => readBenchSettings({ ELITEKV_BENCH_CONTEXTS: "512,,1024" })).toThrow(/ELITEKV_BENCH_CONTEXTS/);
    expect(() => readBenchSettings({ ELITEKV_BENCH_CONTEXTS: "0" })).toThrow(/ELITEKV_BENCH_CONTEXTS/);
    expect(() => readBenchSettings({ ELITEKV_BENCH_RUNS: "1.5" })).toThrow(/ELITEKV_BENCH_RUNS/);
    expect(() => readBenchSettings({ ELITEKV_BENCH_RUNS: "0" })).toThrow(/ELITEKV_BENCH_RUNS/);
    expect(() => readBenchSettings({ ELITEKV_BENCH_WEIGHT_DTYPE: "q3" })).toThrow(/ELITEKV_BENCH_WEIGHT_DTYPE/);
    expect(() => readBenchSettings({ ELITEKV_BENCH_WEIGHT_DTYPE: "bf16" })).toThrow(/ELITEKV_BENCH_WEIGHT_DTYPE/);
    expect(() => readBenchSettings({ ELITEKV_BENCH_PEER: "yes" })).toThrow(/ELITEKV_BENCH_PEER/);
    expect(() => readBenchSettings({ ELITEKV_BENCH_CONFIGS: "full,1.5" })).toThrow(InvalidArgumentError);
  });
});

describe("parseBenchConfiguration", () => {
  it("parses full and ratios", () => {
    expect(parseBenchConfiguration("full", "f")).toEqual({ kind: "full" });
    expect(parseBenchConfiguration(" 0.5 ", "f")).toEqual({ kind: "elitekv", ratio: 0.5 });
    expect(parseBenchConfiguration("1", "f")).toEqual({ kind: "elitekv", ratio: 1 });
  });

  it("rejects other text", () => {
    for (const text of ["", "0", "-0.5", "half", "2"]) {
      expect(() => parseBenchConfiguration(text, "f")).toThrow(InvalidArgumentError);
    }
  });

  it("labels configurations", () => {
    expect(benchConfigurationLabel({ kind: "full" })).toBe("full");
    expect(benchConfigurationLabel({ kind: "elitekv", ratio: 0.25 })).toBe("elitekv-0.25");
  });
});
