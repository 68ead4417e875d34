import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import {
  CorruptFileError,
  createRandom,
  elementCount,
  InvalidConfigError,
  InvalidTokenizerError,
  UnsupportedArchitectureError,
  UnsupportedVersionError,
  type EliteKvConfig,
  type ModelConfig,
  type Tensor,
} from "@elitekv/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  buildEliteKvManifest,
  eliteKvWeightShapes,
  loadEliteKvModel,
  parseEliteKvManifest,
  type EliteKvManifest,
} from "../src/elitekv/index.js";
import { detectModelFormat, loadModel } from "../src/load-model.js";
import { writeSafetensors } from "../src/safetensors/index.js";
import { encodeLlama2cTokenizer } from "./fixtures/llama2c-files.js";

// G = 2 KV heads of 8 dims under 4 query heads, hidden size 16, two layers with different latent widths.
const config: ModelConfig = {
  architecture: "llama",
  hiddenSize: 16,
  intermediateSize: 24,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 8,
  vocabSize: 8,
  maxPositionEmbeddings: 64,
  rmsNormEps: 1e-5,
  rope: { theta: 10000, scaling: { type: "linear", factor: 2 }, rotaryDim: 8, sourceLayout: "half" },
  tieWordEmbeddings: false,
  bosTokenId: 1,
  eosTokenIds: [2],
};

const elite: EliteKvConfig = {
  ropeChunksPerHead: 1,
  layers: [
    { ropeChunks: [[3], [0]], latentDim: 6 },
    { ropeChunks: [[1], [2]], latentDim: 9 },
  ],
};

const sha256 = "0".repeat(63) + "a";

function validManifest(): EliteKvManifest {
  return buildEliteKvManifest({
    baseConfig: config,
    elite,
    svd: "activation",
    dtype: "f32",
    ranking: { strategy: "ropelite", calibration: { text: "tinystories", tokens: 2048 } },
    sourceSha256: sha256,
  });
}

function randomTensors(seed: number): Map<string, Tensor> {
  const random = createRandom(seed);
  const tensors = new Map<string, Tensor>();
  for (const [name, shape] of eliteKvWeightShapes(config, elite)) {
    tensors.set(name, { shape, data: Float32Array.from({ length: elementCount(shape) }, () => random.next() - 0.5) });
  }
  return tensors;
}

let root: string;
let counter = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "elitekv-loader-"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Writes a checkpoint folder by hand, with the manifest JSON and tensors given. */
async function writeCheckpoint(manifest: unknown, tensors: Map<string, Tensor> = randomTensors(7)): Promise<string> {
  const dir = join(root, `checkpoint-${counter++}`);
  await mkdir(dir);
  await writeFile(join(dir, "elitekv.json"), JSON.stringify(manifest));
  await writeSafetensors(join(dir, "model.safetensors"), tensors);
  await writeFile(join(dir, "tok8.bin"), encodeLlama2cTokenizer(["<unk>", "\n<s>\n", "\n</s>\n", " ", "a", "b", " a", "ab"]));
  return dir;
}

/** Returns a deep copy of the valid manifest with `edit` applied. */
function corrupted(edit: (manifest: any) => void): unknown {
  const manifest = JSON.parse(JSON.stringify(validManifest()));
  edit(manifest);
  return manifest;
}

async function loadError(manifest: unknown): Promise<Error> {
  const dir = await writeCheckpoint(manifest);
  return loadEliteKvModel(dir).then(
    () => {
      throw new Error("the checkpoint loaded");
    },
    (error: Error) => error,
  );
}

describe("loadEliteKvModel", () => {
  it("loads a hand-written checkpoint", async () => {
    const tensors = randomTensors(11);
    const dir = await writeCheckpoint(validManifest(), tensors);

    const model = await loadModel(dir);

    expect(await detectModelFormat(dir)).toBe("elitekv");
    expect(model.source.format).toBe("elitekv");
    expect(model.config).toEqual(config);
    expect(model.elite).toEqual(elite);
    expect(model.weights.get("layers.1.w_uk").shape).toEqual([2 * 6, 9]);
    expect(Array.from(model.weights.get("layers.0.wk_rope").data)).toEqual(Array.from(tensors.get("layers.0.wk_rope")!.data));
    expect(model.tokenizer.vocabSize).toBe(8);
    expect(model.tokenizer.decode([4, 5, 6])).toBe("ab a");
    expect(model.source.details.ratio).toBe((2 * 2 * 1 * 2 + 6 + 9) / (2 * 2 * 2 * 8));
  });

  it("stores the scaled chunk frequencies", () => {
    const manifest = validManifest();

    // Linear scaling divides θ_j = 10000^(-2j/8) by the factor 2.
    expect(manifest.elite.layers[0].ropeFrequencies).toEqual([[10000 ** (-6 / 8) / 2], [0.5]]);
    expect(manifest.elite.latentDims).toEqual([6, 9]);
  });

  it("round-trips the manifest through JSON", () => {
    const manifest = validManifest();

    expect(parseEliteKvManifest(JSON.parse(JSON.stringify(manifest)), "elitekv.json")).toEqual(manifest);
  });

  it("round-trips an allocation search", () => {
    const allocation = {
      method: "search" as const,
      text: "sotu:1970-1989",
      tokens: 1024,
      candidates: [
        { ropeChunks: 1, latentDim: 9, ppl: 12.5 },
        { ropeChunks: 2, latentDim: 1, ppl: 30.25 },
      ],
    };
    const manifest = { ...validManifest(), allocation };

    expect(parseEliteKvManifest(JSON.parse(JSON.stringify(manifest)), "elitekv.json").allocation).toEqual(allocation);
  });

  it("rejects an unknown formatVersion", async () => {
    const error = await loadError(corrupted((manifest) => (manifest.formatVersion = 2)));

    expect(error).toBeInstanceOf(UnsupportedVersionError);
    expect(error.message).toMatch(/elitekv\.json, field formatVersion: formatVersion 2 is not supported/);
  });

  const invalidFields: Array<[string, (manifest: any) => void, RegExp]> = [
    ["formatVersion", (manifest) => delete manifest.formatVersion, /field formatVersion: formatVersion must be a number, got nothing/],
    ["baseConfig.hiddenSize", (manifest) => (manifest.baseConfig.hiddenSize = "16"), /field baseConfig\.hiddenSize: .*must be an integer/],
    ["baseConfig.headDim", (manifest) => (manifest.baseConfig.headDim = 7), /field headDim: headDim must be even/],
    ["baseConfig.rope.scaling.type", (manifest) => (manifest.baseConfig.rope.scaling.type = "yarn"), /field baseConfig\.rope\.scaling\.type/],
    ["baseConfig.eosTokenIds", (manifest) => (manifest.baseConfig.eosTokenIds = [-1]), /field baseConfig\.eosTokenIds/],
    ["elite.ropeChunksPerHead", (manifest) => (manifest.elite.ropeChunksPerHead = 2), /field layers\[0\]\.ropeChunks\[0\]: layer 0 KV head 0 needs 2 distinct/],
    ["elite.layers", (manifest) => manifest.elite.layers.pop(), /field layers: EliteKV config has 1 layers but the model has 2/],
    ["elite.layers[1].latentDim", (manifest) => (manifest.elite.layers[1].latentDim = 0), /field layers\[1\]\.latentDim/],
    ["elite.layers[0].ropeChunks", (manifest) => (manifest.elite.layers[0].ropeChunks[1] = [4]), /KV head 1 needs 1 distinct chunk indices in 0\.\.3, got \[4\]/],
    ["elite.layers[0].ropeFrequencies", (manifest) => (manifest.elite.layers[0].ropeFrequencies[1] = [0.25]), /field elite\.layers\[0\]\.ropeFrequencies\[1\]: chunk 0 has frequency 0\.5/],
    ["elite.latentDims", (manifest) => (manifest.elite.latentDims = [6, 8]), /field elite\.latentDims/],
    ["elite.ratio", (manifest) => (manifest.elite.ratio = 0.5), /field elite\.ratio: ratio must be 0\.359375/],
    ["svd", (manifest) => (manifest.svd = "qr"), /field svd: svd must be "weight" or "activation", got "qr"/],
    ["dtype", (manifest) => (manifest.dtype = "bf16"), /field dtype/],
    ["ranking.strategy", (manifest) => (manifest.ranking.strategy = ""), /field ranking\.strategy/],
    ["ranking.calibration", (manifest) => (manifest.ranking.calibration = { nested: { a: 1 } }), /field ranking\.calibration\.nested/],
    ["sourceSha256", (manifest) => (manifest.sourceSha256 = "ABC"), /field sourceSha256: sourceSha256 must be 64 lowercase hex digits/],
    ["allocation.method", (manifest) => (manifest.allocation = { method: "best", text: null, tokens: 0, candidates: [] }), /field allocation\.method/],
    [
      "allocation.candidates",
      (manifest) => (manifest.allocation = { method: "search", text: "t", tokens: 8, candidates: [{ ropeChunks: 1, latentDim: 2, ppl: -1 }] }),
      /field allocation\.candidates\[0\]\.ppl: allocation\.candidates\[0\]\.ppl must be a positive number, got -1/,
    ],
  ];

  for (const [field, edit, message] of invalidFields) {
    it(`rejects an invalid ${field}`, async () => {
      const error = await loadError(corrupted(edit));

      expect(error).toBeInstanceOf(InvalidConfigError);
      expect(error.message).toMatch(message);
      expect(error.message).toContain("elitekv.json");
    });
  }

  it("rejects another architecture", async () => {
    const error = await loadError(corrupted((manifest) => (manifest.baseConfig.architecture = "gpt2")));

    expect(error).toBeInstanceOf(UnsupportedArchitectureError);
  });

  it("rejects a manifest that is not JSON", async () => {
    const dir = await writeCheckpoint(validManifest());
    await writeFile(join(dir, "elitekv.json"), "{ formatVersion: 1");

    await expect(loadEliteKvModel(dir)).rejects.toBeInstanceOf(CorruptFileError);
  });

  it("rejects a tensor of the wrong shape", async () => {
    const tensors = randomTensors(3);
    tensors.set("layers.1.w_dkv", { shape: [8, 16], data: new Float32Array(128) });
    const dir = await writeCheckpoint(validManifest(), tensors);

    const error = await loadEliteKvModel(dir).catch((caught: Error) => caught);
    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as Error).message).toMatch(/tensor layers\.1\.w_dkv has shape \[8, 16\] but elitekv\.json implies \[9, 16\]/);
  });

  it("rejects a missing tensor", async () => {
    const tensors = randomTensors(3);
    tensors.delete("output_head");
    const dir = await writeCheckpoint(validManifest(), tensors);

    await expect(loadEliteKvModel(dir)).rejects.toThrow(/tensor output_head is missing/);
  });

  it("rejects a leftover base projection", async () => {
    const tensors = randomTensors(3);
    tensors.set("layers.0.wk", { shape: [16, 16], data: new Float32Array(256) });
    const dir = await writeCheckpoint(validManifest(), tensors);

    await expect(loadEliteKvModel(dir)).rejects.toThrow(/unexpected tensor layers\.0\.wk/);
  });

  it("loads a tokenizer passed by path", async () => {
    const dir = await writeCheckpoint(validManifest());
    const other = join(root, `other-tokenizer-${counter++}`);
    await mkdir(other);
    const pieces = ["<unk>", "\n<s>\n", "\n</s>\n", "a", "b", "c", "d", "e"];
    await writeFile(join(other, "tok8.bin"), encodeLlama2cTokenizer(pieces));

    const byFile = await loadModel(dir, { tokenizerPath: join(other, "tok8.bin") });
    const byFolder = await loadEliteKvModel(dir, { tokenizerPath: other });

    expect(byFile.tokenizer.vocabSize).toBe(8);
    expect(byFolder.tokenizer.vocabSize).toBe(8);
    expect(byFile.source.files[2]).toBe(join(other, "tok8.bin"));
  });

  it("rejects a llama2.c tokenizer smaller than the vocabulary", async () => {
    const dir = await writeCheckpoint(validManifest());
    const other = join(root, `other-tokenizer-${counter++}`);
    await mkdir(other);
    await writeFile(join(other, "tok3.bin"), encodeLlama2cTokenizer(["<unk>", "\n<s>\n", "\n</s>\n"]));

    await expect(loadModel(dir, { tokenizerPath: join(other, "tok3.bin") })).rejects.toThrow(/has 3 tokens but .* vocab_size 8/);
  });

  it("rejects a folder without a tokenizer", async () => {
    const dir = await writeCheckpoint(validManifest());
    await rm(join(dir, "tok8.bin"));

    await expect(loadEliteKvModel(dir)).rejects.toBeInstanceOf(InvalidTokenizerError);
    expect((await readdir(dir)).sort()).toEqual(["elitekv.json", "model.safetensors"]);
  });
});
