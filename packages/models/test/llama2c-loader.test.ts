import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  CorruptFileError,
  FileNotFoundError,
  InvalidArgumentError,
  InvalidConfigError,
  UnsupportedVersionError,
  weightNames,
  type LoadedModel,
  type ProgressEvent,
} from "@elitekv/core";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";

import { loadLlama2cModel } from "../src/llama2c/index.js";
import {
  encodeLlama2cTokenizer,
  encodeLlama2cV0,
  encodeLlama2cV1,
  encodeVersionedHeader,
  padLlama2cPieces,
} from "./fixtures/llama2c-files.js";
import { gqaSpec, interleavedToHalfRows, randomTinyLlama, type TinyLlama } from "./fixtures/tiny-llama.js";

let folder: string;
const tokenizerPieces = padLlama2cPieces(["<unk>", "\n<s>\n", "\n</s>\n", " ", "a", "b", " a"], gqaSpec.vocabSize);
const tokenizerBytes = encodeLlama2cTokenizer(tokenizerPieces, [0, 0, 0, -1, -2, -3, 5]);

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), "elitekv-llama2c-"));
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** Writes `bytes` as a model into a fresh subfolder with the tiny tokenizer beside it. */
async function writeModel(name: string, bytes: Uint8Array, tokenizer: Uint8Array | null = tokenizerBytes): Promise<string> {
  const modelFolder = await mkdtemp(join(folder, `${name}-`));
  const path = join(modelFolder, `${name}.bin`);
  await writeFile(path, bytes);
  if (tokenizer !== null) await writeFile(join(modelFolder, "tok32.bin"), tokenizer);
  return path;
}

function expectCanonicalWeights(loaded: LoadedModel, model: TinyLlama): void {
  const spec = model.spec;
  const headSize = spec.dim / spec.numHeads;
  const weights = loaded.weights;
  expect(weights.get(weightNames.tokenEmbedding).data).toEqual(model.tokenEmbedding);
  expect(weights.get(weightNames.tokenEmbedding).shape).toEqual([spec.vocabSize, spec.dim]);
  expect(weights.get(weightNames.finalNorm).data).toEqual(model.finalNorm);
  for (let layer = 0; layer < spec.numLayers; layer++) {
    expect(weights.get(weightNames.attentionNorm(layer)).data).toEqual(model.attentionNorm[layer]);
    expect(weights.get(weightNames.ffnNorm(layer)).data).toEqual(model.ffnNorm[layer]);
    expect(weights.get(weightNames.queryProjection(layer)).data).toEqual(
      interleavedToHalfRows(model.wq[layer], spec.numHeads, headSize, spec.dim),
    );
    expect(weights.get(weightNames.keyProjection(layer)).data).toEqual(
      interleavedToHalfRows(model.wk[layer], spec.numKvHeads, headSize, spec.dim),
    );
    expect(weights.get(weightNames.keyProjection(layer)).shape).toEqual([spec.numKvHeads * headSize, spec.dim]);
    expect(weights.get(weightNames.valueProjection(layer)).data).toEqual(model.wv[layer]);
    expect(weights.get(weightNames.outputProjection(layer)).data).toEqual(model.wo[layer]);
    expect(weights.get(weightNames.gateProjection(layer)).data).toEqual(model.w1[layer]);
    expect(weights.get(weightNames.downProjection(layer)).data).toEqual(model.w2[layer]);
    expect(weights.get(weightNames.downProjection(layer)).shape).toEqual([spec.dim, spec.hiddenDim]);
    expect(weights.get(weightNames.upProjection(layer)).data).toEqual(model.w3[layer]);
  }
  if (model.outputHead === undefined) {
    expect(weights.has(weightNames.outputHead)).toBe(false);
  } else {
    expect(weights.get(weightNames.outputHead).data).toEqual(model.outputHead);
  }
}

describe("llama2.c loader versions", () => {
  it("loads version 0 with freq_cis tables", async () => {
    const model = randomTinyLlama(gqaSpec, 11);
    const loaded = await loadLlama2cModel(await writeModel("v0", encodeLlama2cV0(model)));

    expectCanonicalWeights(loaded, model);
    expect(loaded.config.hiddenSize).toBe(16);
    expect(loaded.config.numKvHeads).toBe(2);
    expect(loaded.config.headDim).toBe(4);
    expect(loaded.config.maxPositionEmbeddings).toBe(gqaSpec.seqLen);
    expect(loaded.config.rope.sourceLayout).toBe("interleaved");
    expect(loaded.config.rope.theta).toBe(10000);
    expect(loaded.config.rmsNormEps).toBe(1e-5);
    expect(loaded.config.tieWordEmbeddings).toBe(true);
    expect(loaded.source.details.version).toBe(0);
    expect(loaded.source.details.freqCisTables).toBe(true);
  });

  it("loads version 0 without freq_cis tables", async () => {
    const model = randomTinyLlama(gqaSpec, 12);
    const loaded = await loadLlama2cModel(await writeModel("v0-bare", encodeLlama2cV0(model, { withFreqCis: false })));
    expectCanonicalWeights(loaded, model);
    expect(loaded.source.details.freqCisTables).toBe(false);
  });

  it("reads a separate classifier after negative vocab_size", async () => {
    const model = randomTinyLlama({ ...gqaSpec, sharedClassifier: false }, 13);
    const loaded = await loadLlama2cModel(await writeModel("v0-wcls", encodeLlama2cV0(model)));
    expectCanonicalWeights(loaded, model);
    expect(loaded.config.tieWordEmbeddings).toBe(false);
    expect(loaded.config.vocabSize).toBe(gqaSpec.vocabSize);
  });

  it("gives identical weights for version 0 and version 1", async () => {
    for (const sharedClassifier of [true, false]) {
      const model = randomTinyLlama({ ...gqaSpec, sharedClassifier }, 14);
      const v0 = await loadLlama2cModel(await writeModel("same-v0", encodeLlama2cV0(model)));
      const v1 = await loadLlama2cModel(await writeModel("same-v1", encodeLlama2cV1(model)));

      expect(v1.config).toEqual(v0.config);
      expect(v1.source.details.version).toBe(1);
      expect(v1.weights.names().sort()).toEqual(v0.weights.names().sort());
      for (const name of v0.weights.names()) expect(v1.weights.get(name)).toEqual(v0.weights.get(name));
      expectCanonicalWeights(v1, model);
    }
  });

  it("never reads the magic as a dimension", async () => {
    const model = randomTinyLlama(gqaSpec, 15);
    const loaded = await loadLlama2cModel(await writeModel("magic", encodeLlama2cV1(model)));
    expect(loaded.config.hiddenSize).toBe(gqaSpec.dim);
    expect(loaded.config.hiddenSize).not.toBe(0x616b3432);
  });

  it("rejects version 2 by name", async () => {
    const header = encodeVersionedHeader(2, [16, 24, 2, 4, 2, 32, 8], true);
    const path = await writeModel("v2", header);
    const error = await loadLlama2cModel(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UnsupportedVersionError);
    expect((error as Error).message).toContain("version 2");
    expect((error as Error).message).toContain(path);
  });

  it("rejects unknown versions naming them", async () => {
    const path = await writeModel("v99", encodeVersionedHeader(99, [16, 24, 2, 4, 2, 32, 8], true));
    const error = await loadLlama2cModel(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UnsupportedVersionError);
    expect((error as Error).message).toContain("99");
  });
});

describe("llama2.c loader bad input", () => {
  it("reports a missing file", async () => {
    await expect(loadLlama2cModel(join(folder, "absent.bin"))).rejects.toBeInstanceOf(FileNotFoundError);
  });

  it("reports a truncated file with both sizes", async () => {
    const bytes = encodeLlama2cV0(randomTinyLlama(gqaSpec, 16));
    const path = await writeModel("truncated", bytes.subarray(0, bytes.byteLength - 4));
    const error = await loadLlama2cModel(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as Error).message).toContain(`${bytes.byteLength} bytes`);
    expect((error as Error).message).toContain(`${bytes.byteLength - 4} bytes`);
  });

  it("rejects trailing bytes", async () => {
    const bytes = encodeLlama2cV1(randomTinyLlama(gqaSpec, 17));
    const padded = new Uint8Array(bytes.byteLength + 8);
    padded.set(bytes);
    await expect(loadLlama2cModel(await writeModel("trailing", padded))).rejects.toBeInstanceOf(CorruptFileError);
  });

  it("rejects a header claiming a huge model without allocating it", async () => {
    // dim 2^30 with 2^30 vocabulary rows implies ~4.6e18 bytes; the size check must fail first.
    const header = new Uint8Array(28);
    const view = new DataView(header.buffer);
    [2 ** 30, 2 ** 30, 1000, 2 ** 20, 2 ** 20, 2 ** 30, 4096].forEach((value, index) => view.setInt32(index * 4, value, true));
    const started = performance.now();
    const error = await loadLlama2cModel(await writeModel("huge", header)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as Error).message).toContain("28 bytes");
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("rejects heads that do not divide dim", async () => {
    const header = new Uint8Array(28);
    const view = new DataView(header.buffer);
    [30, 24, 2, 4, 2, 32, 8].forEach((value, index) => view.setInt32(index * 4, value, true));
    const error = await loadLlama2cModel(await writeModel("heads", header)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("n_heads");
  });

  it("rejects a file shorter than the header", async () => {
    const error = await loadLlama2cModel(await writeModel("short", new Uint8Array(10))).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as Error).message).toContain("10 bytes");
  });
});

describe("llama2.c tokenizer lookup", () => {
  it("requires a tokenizer beside the model", async () => {
    const path = await writeModel("no-tok", encodeLlama2cV0(randomTinyLlama(gqaSpec, 18)), null);
    const error = await loadLlama2cModel(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain("none was found");
  });

  it("lists several candidates", async () => {
    const path = await writeModel("two-tok", encodeLlama2cV0(randomTinyLlama(gqaSpec, 19)));
    await writeFile(join(path, "..", "tokenizer.bin"), tokenizerBytes);
    const error = await loadLlama2cModel(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain("tok32.bin");
    expect((error as Error).message).toContain("tokenizer.bin");
  });

  it("uses an explicit tokenizer path", async () => {
    const path = await writeModel("explicit", encodeLlama2cV0(randomTinyLlama(gqaSpec, 20)), null);
    const tokenizerPath = join(folder, "custom-tokenizer.bin");
    await writeFile(tokenizerPath, tokenizerBytes);
    const loaded = await loadLlama2cModel(path, { tokenizerPath });
    expect(loaded.tokenizer.vocabSize).toBe(32);
    expect(loaded.tokenizer.encode("a", { addBos: true })).toEqual([1, 6]);
    expect(loaded.source.files).toHaveLength(2);
  });

  it("rejects a tokenizer larger than the embedding", async () => {
    const pieces = ["<unk>", "\n<s>\n", "\n</s>\n", ...Array.from({ length: 40 }, (_, index) => `p${index}`)];
    const path = await writeModel("big-tok", encodeLlama2cV0(randomTinyLlama(gqaSpec, 21)), encodeLlama2cTokenizer(pieces));
    const error = await loadLlama2cModel(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect((error as Error).message).toContain("43 tokens");
    expect((error as Error).message).toContain("32 embedding rows");
  });
});

describe("llama2.c tokenizer size", () => {
  it("rejects a tokenizer cut between two entries", async () => {
    // Entries have the same bytes in any file, so the 7-entry encoding ends where the 7th entry of the
    // full file ends. A file cut there parses cleanly, and only vocab_size reveals the cut.
    const cut = tokenizerBytes.subarray(0, encodeLlama2cTokenizer(tokenizerPieces.slice(0, 7)).byteLength);

    const path = await writeModel("cut-tok", encodeLlama2cV0(randomTinyLlama(gqaSpec, 23)), cut);
    const error = await loadLlama2cModel(path).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).file).toBe(join(path, "..", "tok32.bin"));
    expect((error as CorruptFileError).field).toBe("vocab_size");
    expect((error as Error).message).toContain("has 7 tokens but cut-tok.bin has vocab_size 32");
    expect((error as Error).message).toContain("truncated");
  });
});

describe("llama2.c loader progress", () => {
  it("reports every byte read", async () => {
    const bytes = encodeLlama2cV0(randomTinyLlama(gqaSpec, 22));
    const events: ProgressEvent[] = [];
    await loadLlama2cModel(await writeModel("progress", bytes), { onProgress: (event) => events.push(event) });

    expect(events[0].type).toBe("start");
    expect(events[events.length - 1].type).toBe("end");
    const advances = events.filter((event) => event.type === "advance");
    const last = advances[advances.length - 1];
    expect(last.type).toBe("advance");
    expect(last.type === "advance" ? last.current : undefined).toBe(bytes.byteLength - 28);
  });
});

describe.skipIf(!hasShared)("stories260K checkpoint", () => {
  it("loads the header and weight shapes", async () => {
    const loaded = await loadLlama2cModel(sharedPath("models", "stories260K", "stories260K.bin"));
    expect(loaded.config).toMatchObject({
      hiddenSize: 64,
      intermediateSize: 172,
      numLayers: 5,
      numHeads: 8,
      numKvHeads: 4,
      headDim: 8,
      vocabSize: 512,
      maxPositionEmbeddings: 512,
      tieWordEmbeddings: true,
      bosTokenId: 1,
      eosTokenIds: [2],
    });
    expect(loaded.weights.names()).toHaveLength(2 + 9 * 5);
    expect(loaded.weights.get(weightNames.keyProjection(4)).shape).toEqual([32, 64]);
    expect(loaded.tokenizer.vocabSize).toBe(512);
  });

  it("permutes wq rows from the file", async () => {
    const path = sharedPath("models", "stories260K", "stories260K.bin");
    const loaded = await loadLlama2cModel(path);
    const file = readFileSync(path);
    const view = new DataView(file.buffer, file.byteOffset, file.byteLength);

    // Layer 0 wq starts after the header, the 512 x 64 embedding and the 5 x 64 attention norms.
    const wqOffset = 28 + 4 * (512 * 64 + 5 * 64);
    const raw = Float32Array.from({ length: 64 * 64 }, (_, index) => view.getFloat32(wqOffset + 4 * index, true));
    expect(loaded.weights.get(weightNames.queryProjection(0)).data).toEqual(interleavedToHalfRows(raw, 8, 8, 64));
  });
});
