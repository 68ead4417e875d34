import { cacheBytesPerToken, cacheRatio, eliteCacheLayout, fullCacheLayout, type ModelConfig } from "@elitekv/core";
import { loadModel } from "@elitekv/models";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { describe, expect, it } from "vitest";

import {
  decodeHarnessCapacity,
  runDecodeConfigurationInChild,
  weightElementsReadPerToken,
  type DecodeConfigurationReport,
  type DecodeConfigurationSpec,
} from "../src/index.js";

const stories = sharedPath("models", "stories260K", "stories260K.bin");

/** stories260K: 5 layers, 4 KV heads of dim 8. */
const storiesConfig = { numLayers: 5, numKvHeads: 4, headDim: 8 } as ModelConfig;

const harness = { contexts: [24, 8], decodeSteps: 3, runs: 3, warmupSteps: 1, prefillChunk: 8, prefillRuns: 2 };

function spec(configuration: DecodeConfigurationSpec["configuration"]): DecodeConfigurationSpec {
  return { modelPath: stories, backend: "cpu", threads: 1, configuration, harness, weightDtype: "f32" };
}

async function runChild(configuration: DecodeConfigurationSpec["configuration"]): Promise<DecodeConfigurationReport> {
  const outcome = await runDecodeConfigurationInChild(spec(configuration), { timeoutMs: 60_000, forwardStderr: false });
  if (!outcome.ok) throw new Error(`child failed: ${outcome.error}\n${outcome.stderrTail}`);
  return outcome.value;
}

describe.skipIf(!hasShared)("decode configuration on stories260K", () => {
  it("reports the full cache run", async () => {
    const report = await runChild({ kind: "full" });
    const capacity = decodeHarnessCapacity(harness);
    const layout = fullCacheLayout(storiesConfig);

    expect(report.configuration).toBe("full");
    expect(report.backend).toEqual({ requested: "cpu", name: "cpu", threads: 1 });
    expect(report.conversion).toBeUndefined();
    expect(report.cache.kind).toBe("full");
    expect(report.cache.capacity).toBe(capacity);
    expect(report.cache.layoutBytesPerToken).toBe(cacheBytesPerToken(layout));
    expect(report.cache.bytesAllocated).toBe(cacheBytesPerToken(layout) * capacity);
    expect(report.cache.cacheRatio).toBe(1);

    expect(report.prefill.chunkTokens).toBe(8);
    expect(report.prefill.tokensPerSecond.runs).toBe(2);
    expect(report.decode.map((entry) => entry.context)).toEqual([8, 24]);
    for (const entry of report.decode) {
      expect(entry.tokensPerSecond.runs).toBe(3);
      expect(entry.tokensPerSecond.median).toBeGreaterThan(0);
      expect(entry.tokensPerSecond.min).toBeLessThanOrEqual(entry.tokensPerSecond.median);
      expect(entry.tokensPerSecond.max).toBeGreaterThanOrEqual(entry.tokensPerSecond.median);
      expect(entry.bytesReadPerToken.cacheBytes).toBe(cacheBytesPerToken(layout) * entry.timedCacheTokens.mean);
    }
    expect(report.decode[1].timedCacheTokens).toEqual({ first: 26, last: 34, mean: 30 });
    const model = await loadModel(stories);
    expect(report.weightElementsRead).toEqual(weightElementsReadPerToken(model.config));

    expect(report.memory.peakRssKiB).toBeGreaterThan(10_000);
    expect(report.memory.peakRssKiB).toBeGreaterThanOrEqual(report.memory.peakRssBeforeSessionKiB);
  });

  it("reports an EliteKV 25% run", async () => {
    const report = await runChild({ kind: "elitekv", ratio: 0.25 });
    const capacity = decodeHarnessCapacity(harness);

    // Ratio rule on stories260K (h = 8, G = 4): r = max(1, round(0.25 · 8 / 4)) = 1, d_c = round(0.25 · 64) − 8 = 8.
    const elite = { ropeChunksPerHead: 1, layers: Array.from({ length: 5 }, () => ({ ropeChunks: [[0], [0], [0], [0]], latentDim: 8 })) };
    const layout = eliteCacheLayout(storiesConfig, elite);

    expect(report.configuration).toBe("elitekv-0.25");
    expect(report.conversion).toMatchObject({ requestedRatio: 0.25, achievedRatio: 0.25, ropeChunksPerHead: 1, latentDim: 8 });
    expect(report.cache.kind).toBe("elitekv");
    expect(report.cache.bytesAllocated).toBe(cacheBytesPerToken(layout) * capacity);
    expect(report.cache.bytesPerToken).toBe(cacheBytesPerToken(layout));
    expect(report.cache.cacheRatio).toBe(cacheRatio(layout));
    expect(report.cache.cacheRatio).toBe(0.25);
  });

  it("reports a failed child with its message", async () => {
    const outcome = await runDecodeConfigurationInChild(
      { ...spec({ kind: "full" }), modelPath: sharedPath("models", "no-such-model.bin") },
      { timeoutMs: 60_000, forwardStderr: false },
    );
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.exitCode).toBe(1);
    expect(outcome.error).toContain("no-such-model.bin");
  });
});
