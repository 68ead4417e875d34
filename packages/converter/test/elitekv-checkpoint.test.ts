import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import {
  f16ToF32,
  f32ToF16,
  FileNotFoundError,
  InvalidArgumentError,
  ropeInverseFrequencies,
  type LoadedModel,
} from "@elitekv/core";
import { fileSha256, loadEliteKvModel, loadModel, type EliteKvManifest } from "@elitekv/models";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { convertModel, writeEliteKvCheckpoint, type ChunkRanking, type ConvertedModel } from "../src/index.js";

const sampleText = "Once upon a time, a little girl named Lily found a shiny red ball in the park. 123 éß!";

/** Reverse chunk order shifted per KV head, so every head keeps a different set. */
function shiftedRanking(layers: number, kvHeads: number, chunkCount: number): ChunkRanking {
  return {
    layers: Array.from({ length: layers }, () => ({
      kvHeads: Array.from({ length: kvHeads }, (_, head) => ({
        ranking: Array.from({ length: chunkCount }, (_, index) => (chunkCount - 1 - index + head) % chunkCount),
      })),
    })),
  };
}

let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "elitekv-checkpoint-"));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

interface Source {
  model: LoadedModel;
  converted: ConvertedModel;
  sha256: string;
}

async function convertSource(path: string, weightFile: string, target: { ropeChunks: number; latentDim: number }): Promise<Source> {
  const model = await loadModel(path);
  const { config } = model;
  const ranking = shiftedRanking(config.numLayers, config.numKvHeads, config.headDim / 2);
  const converted = await convertModel(model, ranking, target, { svd: "weight" });
  return { model, converted, sha256: await fileSha256(weightFile) };
}

async function writeCheckpoint(source: Source, name: string, dtype: "f32" | "f16"): Promise<string> {
  const dir = join(scratch, name);
  await writeEliteKvCheckpoint(dir, {
    model: source.model,
    converted: source.converted,
    provenance: { ranking: { strategy: "test-shifted", calibration: { text: "none", tokens: 0 } }, sourceSha256: source.sha256, svd: "weight" },
    dtype,
  });
  return dir;
}

/** Returns the first index where the arrays differ, or -1; much faster than toEqual on large arrays. */
function firstMismatch(actual: Float32Array, expected: Float32Array): number {
  for (let i = 0; i < expected.length; i++) if (!Object.is(actual[i], expected[i])) return i;
  return -1;
}

function expectRoundTrip(source: Source, loaded: LoadedModel, dtype: "f32" | "f16"): void {
  expect(loaded.source.format).toBe("elitekv");
  expect(loaded.config).toEqual(source.model.config);
  expect(loaded.elite).toEqual(source.converted.elite);
  expect(loaded.weights.names().sort()).toEqual(source.converted.weights.names().sort());

  for (const name of source.converted.weights.names()) {
    const written = source.converted.weights.get(name);
    const read = loaded.weights.get(name);
    expect(read.shape, name).toEqual(written.shape);
    const expected = dtype === "f32" ? written.data : Float32Array.from(written.data, (value) => f16ToF32(f32ToF16(value)));
    expect(read.data.length, name).toBe(expected.length);
    expect(firstMismatch(read.data, expected), name).toBe(-1);
  }

  expect(loaded.tokenizer.encode(sampleText, { addBos: true })).toEqual(source.model.tokenizer.encode(sampleText, { addBos: true }));
  expect(loaded.tokenizer.vocabSize).toBe(source.model.tokenizer.vocabSize);
}

describe.skipIf(!hasShared)("EliteKV checkpoint of stories260K", () => {
  let source: Source;

  beforeAll(async () => {
    const path = sharedPath("models", "stories260K", "stories260K.bin");
    source = await convertSource(path, path, { ropeChunks: 2, latentDim: 20 });
  });

  it("round-trips in f32", async () => {
    const dir = await writeCheckpoint(source, "stories-f32", "f32");

    expect((await readdir(dir)).sort()).toEqual(["elitekv.json", "model.safetensors", "tok512.bin"]);
    expectRoundTrip(source, await loadModel(dir), "f32");
  });

  it("round-trips in f16", async () => {
    const dir = await writeCheckpoint(source, "stories-f16", "f16");

    expectRoundTrip(source, await loadEliteKvModel(dir), "f16");
  });

  it("stores chunk frequencies and provenance", async () => {
    const dir = await writeCheckpoint(source, "stories-manifest", "f32");
    const manifest = JSON.parse(await readFile(join(dir, "elitekv.json"), "utf8")) as EliteKvManifest;
    const frequencies = ropeInverseFrequencies(source.model.config.rope);

    expect(manifest.formatVersion).toBe(1);
    expect(manifest.elite.ropeChunksPerHead).toBe(2);
    expect(manifest.elite.latentDims).toEqual([20, 20, 20, 20, 20]);
    expect(manifest.elite.ratio).toBe((2 * 4 * 2 + 20) / 64);
    // KV head 1 ranks 0, 3, 2, 1: its elite chunks are 0 and 3.
    expect(manifest.elite.layers[0].ropeChunks[1]).toEqual([0, 3]);
    expect(manifest.elite.layers[0].ropeFrequencies[1]).toEqual([1, frequencies[3]]);
    expect(frequencies[3]).toBeCloseTo(10000 ** (-6 / 8), 15);
    expect(manifest.svd).toBe("weight");
    expect(manifest.dtype).toBe("f32");
    expect(manifest.ranking).toEqual({ strategy: "test-shifted", calibration: { text: "none", tokens: 0 } });
    expect(manifest.sourceSha256).toBe(source.sha256);
  });

  it("rejects a non-empty folder without overwrite", async () => {
    const dir = join(scratch, "stories-existing");
    await mkdir(dir);
    await writeFile(join(dir, "keep.txt"), "keep");
    const write = (overwrite: boolean) =>
      writeEliteKvCheckpoint(dir, {
        model: source.model,
        converted: source.converted,
        provenance: { ranking: { strategy: "test-shifted", calibration: {} }, sourceSha256: source.sha256, svd: "weight" },
        dtype: "f32",
        overwrite,
      });

    await expect(write(false)).rejects.toThrow(/already exists and is not empty; pass overwrite: true/);
    expect(await readdir(dir)).toEqual(["keep.txt"]);

    await write(true);
    expect((await readdir(dir)).sort()).toEqual(["elitekv.json", "model.safetensors", "tok512.bin"]);
  });

  it("writes nothing when the parent is missing", async () => {
    const before = await readdir(scratch);
    const dir = join(scratch, "missing-parent", "checkpoint");

    await expect(writeCheckpoint(source, join("missing-parent", "checkpoint"), "f32")).rejects.toBeInstanceOf(FileNotFoundError);
    expect(await readdir(scratch)).toEqual(before);
    await expect(loadModel(dir)).rejects.toBeInstanceOf(FileNotFoundError);
  });

  it("removes the staging folder when a step fails", async () => {
    const before = await readdir(scratch);
    const broken: LoadedModel = {
      ...source.model,
      source: { ...source.model.source, files: [source.model.source.files[0], join(scratch, "no-such-tok.bin")], details: {} },
    };

    await expect(
      writeEliteKvCheckpoint(join(scratch, "stories-broken"), {
        model: broken,
        converted: source.converted,
        provenance: { ranking: { strategy: "test-shifted", calibration: {} }, sourceSha256: source.sha256, svd: "weight" },
        dtype: "f32",
      }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await readdir(scratch)).toEqual(before);
  });

  it("rejects a malformed source hash", async () => {
    await expect(
      writeEliteKvCheckpoint(join(scratch, "stories-bad-hash"), {
        model: source.model,
        converted: source.converted,
        provenance: { ranking: { strategy: "test-shifted", calibration: {} }, sourceSha256: "abc", svd: "weight" },
        dtype: "f32",
      }),
    ).rejects.toThrow(/sourceSha256 must be 64 lowercase hex digits/);
  });
});

describe.skipIf(!hasShared)("EliteKV checkpoint of tinystories-656k", () => {
  let source: Source;

  beforeAll(async () => {
    const dir = sharedPath("models", "tinystories-656k");
    source = await convertSource(dir, join(dir, "model.safetensors"), { ropeChunks: 3, latentDim: 40 });
  });

  it("round-trips in f32", async () => {
    const dir = await writeCheckpoint(source, "tinystories-f32", "f32");

    expect((await readdir(dir)).sort()).toEqual([
      "elitekv.json",
      "model.safetensors",
      "special_tokens_map.json",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    expectRoundTrip(source, await loadModel(dir), "f32");
  });

  it("round-trips in f16", async () => {
    const dir = await writeCheckpoint(source, "tinystories-f16", "f16");

    expectRoundTrip(source, await loadModel(dir), "f16");
  });
});

describe.skipIf(!hasShared)("EliteKV checkpoint of a GGUF model", () => {
  it("round-trips with a vocabulary-only tokenizer", async () => {
    const path = sharedPath("models", "llama-2-tiny-random-gguf", "llama-2-tiny-random.gguf");
    const source = await convertSource(path, path, { ropeChunks: 1, latentDim: 4 });
    const dir = await writeCheckpoint(source, "gguf-f32", "f32");

    expect((await readdir(dir)).sort()).toEqual(["elitekv.json", "model.safetensors", "tokenizer.gguf"]);
    expectRoundTrip(source, await loadModel(dir), "f32");
  });
});
