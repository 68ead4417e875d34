import { resolveModelPath } from "@elitekv/models";
import { describe, expect, it } from "vitest";

import { ensureLlamaCppPeer, runLlamaCppDecodeInChild, type LlamaCppPeer } from "../src/index.js";

/** Returns the installed peer, or undefined. The test never installs one. */
function installedPeer(): LlamaCppPeer | undefined {
  try {
    return ensureLlamaCppPeer({ install: false });
  } catch {
    return undefined;
  }
}

function fetchedSmollm2(): string | undefined {
  try {
    return resolveModelPath("smollm2");
  } catch {
    return undefined;
  }
}

const peer = installedPeer();
const smollm2 = fetchedSmollm2();

describe.skipIf(peer === undefined || smollm2 === undefined)("llama.cpp decode child", () => {
  it("measures SmolLM2 at a tiny context", async () => {
    const outcome = await runLlamaCppDecodeInChild(
      { entry: peer!.entry, modelPath: smollm2!, threads: 1, contexts: [16], decodeSteps: 2, runs: 2, warmupSteps: 1, prefillChunk: 16, prefillRuns: 1 },
      { timeoutMs: 120_000, forwardStderr: false },
    );
    if (!outcome.ok) throw new Error(`child failed: ${outcome.error}\n${outcome.stderrTail}`);
    const report = outcome.value;

    expect(report.peer.gpu).toBe(false);
    expect(report.context.threads).toBe(1);
    expect(report.context.contextSize).toBeGreaterThanOrEqual(16 + 1 + 4);
    expect(report.prefill.tokensPerSecond.runs).toBe(1);
    expect(report.decode).toHaveLength(1);
    // Warmup at position 16, timed steps at 17 .. 20 attend 18 .. 21 tokens.
    expect(report.decode[0].timedCacheTokens).toEqual({ first: 18, last: 21, mean: 19.5 });
    expect(report.decode[0].tokensPerSecond.runs).toBe(2);
    expect(report.decode[0].tokensPerSecond.median).toBeGreaterThan(0);
    expect(report.memory.peakRssKiB).toBeGreaterThan(report.memory.peakRssBeforeModelKiB);
  });
});
