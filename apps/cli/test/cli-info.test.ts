// `elitekv info` and the exit codes of bad model files, run as a spawned process.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { runElitekv, runElitekvInProcess } from "./run-elitekv.js";

const storiesModel = sharedPath("models", "stories260K", "stories260K.bin");
const storiesTokenizer = sharedPath("models", "stories260K", "tok512.bin");
const tinyStoriesDir = sharedPath("models", "tinystories-656k");
const ggufModel = sharedPath("models", "llama-2-tiny-random-gguf", "llama-2-tiny-random.gguf");

interface Architecture {
  layers: number;
  hiddenSize: number;
  intermediateSize: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
  tied: boolean;
  ropeLayout: "half" | "interleaved";
}

/**
 * Returns the expected `info --json` of a LLaMA model, computed from its architecture: per layer two
 * RMSNorm vectors, the q/k/v/o projections and three SwiGLU matrices, plus the final norm. A tied head
 * shares the embedding. The f32 full cache stores a key and a value of every KV head in every layer.
 */
function expectedInfo(architecture: Architecture) {
  const { layers, hiddenSize, intermediateSize, heads, kvHeads, headDim, vocabSize } = architecture;
  const perLayer =
    2 * hiddenSize +
    2 * heads * headDim * hiddenSize +
    2 * kvHeads * headDim * hiddenSize +
    3 * intermediateSize * hiddenSize;
  const embeddings = vocabSize * hiddenSize * (architecture.tied ? 1 : 2);
  return {
    architecture: "llama",
    layers,
    hiddenSize,
    heads,
    kvHeads,
    headDim,
    ropeTheta: 10000,
    ropeLayout: architecture.ropeLayout,
    vocabSize,
    parameters: embeddings + layers * perLayer + hiddenSize,
    kvCacheBytesPerToken: 2 * kvHeads * headDim * layers * 4,
  };
}

describe.skipIf(!hasShared).concurrent("info --json", () => {
  it("stories260K llama2.c checkpoint", async () => {
    const run = await runElitekv(["info", "--model", storiesModel, "--json", "--quiet"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const expected = expectedInfo({
      layers: 5,
      hiddenSize: 64,
      intermediateSize: 172,
      heads: 8,
      kvHeads: 4,
      headDim: 8,
      vocabSize: 512,
      tied: true,
      ropeLayout: "interleaved",
    });
    expect(expected.parameters).toBe(260_032);
    expect(expected.kvCacheBytesPerToken).toBe(1280);
    expect(JSON.parse(run.stdout)).toStrictEqual(expected);
  });

  it("tinystories-656k Hugging Face folder", async () => {
    const run = await runElitekv(["info", "--model", tinyStoriesDir, "--json", "--quiet"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const expected = expectedInfo({
      layers: 2,
      hiddenSize: 128,
      intermediateSize: 384,
      heads: 8,
      kvHeads: 4,
      headDim: 16,
      vocabSize: 2048,
      tied: true,
      ropeLayout: "half",
    });
    expect(expected.parameters).toBe(656_000);
    expect(expected.kvCacheBytesPerToken).toBe(1024);
    expect(JSON.parse(run.stdout)).toStrictEqual(expected);
  });

  it("llama-2-tiny-random GGUF file", async () => {
    const run = await runElitekv(["info", "--model", ggufModel, "--json", "--quiet"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    // The file has no llama.rope.freq_base key, so llama.cpp's default base of 10000 applies.
    const expected = expectedInfo({
      layers: 1,
      hiddenSize: 8,
      intermediateSize: 32,
      heads: 2,
      kvHeads: 2,
      headDim: 4,
      vocabSize: 32000,
      tied: false,
      ropeLayout: "interleaved",
    });
    expect(JSON.parse(run.stdout)).toStrictEqual(expected);
  });
});

describe.skipIf(!hasShared)("info table", () => {
  it("prints labeled rows", async () => {
    const run = await runElitekvInProcess(["info", "--model", storiesModel, "--quiet"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^format +llama2c$/m);
    expect(run.stdout).toMatch(/^KV cache per token \(f32\) +1,280 bytes$/m);
    expect(run.stdout).toMatch(/^parameters +260,032$/m);
    expect(run.stdout).toMatch(/^RoPE layout \(source\) +interleaved$/m);
    expect(run.stdout).toMatch(/^context length +512 tokens$/m);
  });
});

describe.skipIf(!hasShared).concurrent("bad model files", () => {
  let folder = "";

  beforeAll(() => {
    folder = mkdtempSync(join(tmpdir(), "elitekv-cli-"));
  });

  afterAll(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  it("missing file exits 1 naming it", async () => {
    const missing = join(folder, "absent", "model.bin");
    const run = await runElitekv(["info", "--model", missing, "--json"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: /);
    expect(run.stderr).toContain(missing);
    expect(run.stdout).toBe("");
  });

  it("text file exits 1 as unknown format", async () => {
    const textFile = join(folder, "notes.txt");
    writeFileSync(textFile, "these are notes, not model weights\n".repeat(20));
    const run = await runElitekv(["info", "--model", textFile, "--json"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: /);
    expect(run.stderr).toContain(textFile);
    expect(run.stderr).toContain("not a known model format");
    expect(run.stdout).toBe("");
  });

  it("truncated checkpoint exits 1", async () => {
    const truncated = join(folder, "stories260K-truncated.bin");
    const bytes = readFileSync(storiesModel);
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const run = await runElitekv(["info", "--model", truncated, "--tokenizer", storiesTokenizer, "--json"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: /);
    expect(run.stderr).toContain(truncated);
    expect(run.stderr).not.toContain("unexpected failure");
    expect(run.stdout).toBe("");
  });

  it("missing text file exits 1 naming it", async () => {
    const missing = join(folder, "absent.txt");
    const run = await runElitekvInProcess(["eval", "ppl", "--model", storiesModel, "--text", missing, "--json"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: /);
    expect(run.stderr).toContain(missing);
    expect(run.stdout).toBe("");
  });
});
