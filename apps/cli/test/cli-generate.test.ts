// `elitekv generate` end to end. The expected text comes from the golden greedy ids, decoded by an
// independent reader of the llama2.c tokenizer file.
import { readFileSync } from "node:fs";

import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { describe, expect, it } from "vitest";

import { decodeLlama2cIds, readLlama2cPieces } from "./llama2c-reference-decoder.js";
import { parseJsonLines, runElitekv, runElitekvInProcess } from "./run-elitekv.js";

const stories = {
  model: sharedPath("models", "stories260K", "stories260K.bin"),
  tokenizer: sharedPath("models", "stories260K", "tok512.bin"),
  golden: sharedPath("models", "stories260K", "golden.json"),
};
const aidreams = {
  model: sharedPath("models", "aidreams260K", "aidreams260K.bin"),
  tokenizer: sharedPath("models", "aidreams260K", "tok512.bin"),
  golden: sharedPath("models", "aidreams260K", "golden.json"),
};

function goldenGreedyText(model: { tokenizer: string; golden: string }): string {
  const golden = JSON.parse(readFileSync(model.golden, "utf8")) as { greedy_from_bos: { ids: number[] } };
  return decodeLlama2cIds(readLlama2cPieces(model.tokenizer), golden.greedy_from_bos.ids);
}

describe.skipIf(!hasShared).concurrent("generate", () => {
  it("streams the golden greedy text", async () => {
    const expected = goldenGreedyText(stories);
    expect(expected.startsWith("Once upon a time, there was a little girl named Lily.")).toBe(true);
    const run = await runElitekv(["generate", "--model", stories.model, "--prompt", "", "--max-new-tokens", "200", "--quiet"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(`${expected}\n`);
    expect(run.stderr).toBe("");
  });

  it("prints the golden greedy text as JSON", async () => {
    const run = await runElitekv(["generate", "--model", stories.model, "--max-new-tokens", "200", "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(result.text).toBe(goldenGreedyText(stories));
    expect(result.promptTokens).toBe(1);
    expect(result.generatedTokens).toBe(200);
    expect(result.stopReason).toBe("max-new-tokens");
    const events = parseJsonLines(run.stderr);
    expect(events).toContainEqual(expect.objectContaining({ type: "end", task: "generate" }));
  });

  it("stops at the context length", async () => {
    // aidreams260K has a context of 128 positions. The token sampled at the last one is printed but
    // never fed, so 128 tokens follow BOS, which are exactly the 128 golden greedy steps.
    const run = await runElitekv(["generate", "--model", aidreams.model, "--max-new-tokens", "500", "--json", "--quiet"]);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(result.stopReason).toBe("context-limit");
    expect(result.generatedTokens).toBe(128);
    expect(result.text).toBe(goldenGreedyText(aidreams));
  });

  it("continues a prompt without repeating it", async () => {
    const run = await runElitekvInProcess(["generate", "--model", stories.model, "--prompt", "Once upon a time,", "-n", "10", "--quiet"]);
    expect(run.code, run.stderr).toBe(0);
    // The golden greedy text goes on like this after "Once upon a time,".
    expect(run.stdout).toBe(" there was a little girl named Lily.\n");
  });

  it("repeats a seeded sample", async () => {
    const args = ["generate", "--model", stories.model, "--prompt", "Once upon", "--max-new-tokens", "24"];
    const sampled = [...args, "--temperature", "1", "--top-p", "0.9", "--seed", "42", "--json", "--quiet"];
    const first = await runElitekvInProcess(sampled);
    const second = await runElitekvInProcess(sampled);
    expect(first.code, first.stderr).toBe(0);
    const firstResult = JSON.parse(first.stdout) as { text: string; seed: number; generatedTokens: number };
    expect(firstResult.seed).toBe(42);
    expect(firstResult.generatedTokens).toBe(24);
    expect(JSON.parse(second.stdout)).toMatchObject({ text: firstResult.text, seed: 42 });
  });
});
