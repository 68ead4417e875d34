// SmolLM2-135M-Instruct (Q4_1 GGUF) through the CLI, as a user runs it after `elitekv fetch smollm2`.
// Skipped when the model is not in the cache folder; CI fetches it first and sets
// ELITEKV_REQUIRE_SMOLLM2=1 so that a missing model fails instead.
import { resolveModelPath } from "@elitekv/models";
import { describe, expect, it } from "vitest";

import { runElitekv } from "./run-elitekv.js";

function cachedSmollm2(): string | undefined {
  try {
    return resolveModelPath("smollm2");
  } catch {
    return undefined;
  }
}

const smollm2 = cachedSmollm2();
if (smollm2 === undefined && process.env.ELITEKV_REQUIRE_SMOLLM2 === "1") {
  throw new Error("SmolLM2 is not in the cache folder; run `pnpm elitekv fetch smollm2` first");
}

describe.skipIf(smollm2 === undefined)("smollm2", () => {
  it("reports its architecture", async () => {
    const run = await runElitekv(["info", "--model", "smollm2", "--json", "--quiet"]);
    expect(run.code).toBe(0);
    // Published SmolLM2-135M architecture: 30 layers, hidden 576, 9 query heads over 3 KV heads of 64
    // dims, vocabulary 49152, RoPE base 100000; llama.cpp stores q/k rows interleaved.
    expect(JSON.parse(run.stdout)).toEqual({
      architecture: "llama",
      layers: 30,
      hiddenSize: 576,
      heads: 9,
      kvHeads: 3,
      headDim: 64,
      ropeTheta: 100000,
      ropeLayout: "interleaved",
      vocabSize: 49152,
      // Tied embedding, then per layer two norms, q/k/v/o and three SwiGLU matrices (FFN 1536), final norm.
      parameters: 49152 * 576 + 30 * (2 * 576 + 2 * 9 * 64 * 576 + 2 * 3 * 64 * 576 + 3 * 1536 * 576) + 576,
      kvCacheBytesPerToken: 2 * 3 * 64 * 30 * 4,
    });
  });

  it("answers a simple chat question", async () => {
    const run = await runElitekv(
      ["generate", "--model", "smollm2", "--chat", "--prompt", "What is the capital of France?", "--max-new-tokens", "16", "--quiet"],
      240_000,
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("Paris");
  });
});
