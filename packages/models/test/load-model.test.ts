import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  CorruptFileError,
  FileNotFoundError,
  InvalidArgumentError,
  UnknownFormatError,
  UnsupportedVersionError,
} from "@elitekv/core";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";

import { writeGguf } from "../src/gguf/index.js";
import { detectModelFormat, loadModel } from "../src/load-model.js";
import { writeSafetensors } from "../src/safetensors/index.js";
import { huggingFaceConfig, randomHuggingFaceTensors, writeHuggingFaceFolder, type HuggingFaceShape } from "./fixtures/huggingface-files.js";
import {
  encodeLlama2cTokenizer,
  encodeLlama2cV0,
  encodeLlama2cV1,
  encodeVersionedHeader,
  padLlama2cPieces,
} from "./fixtures/llama2c-files.js";
import { tinyLlama } from "./fixtures/gguf/tiny-llama.js";
import { gqaSpec, randomTinyLlama } from "./fixtures/tiny-llama.js";

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "elitekv-load-model-"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const shape: HuggingFaceShape = {
  hiddenSize: 16,
  intermediateSize: 24,
  numLayers: 1,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 4,
  vocabSize: 32,
  tieWordEmbeddings: true,
};

async function writeBytes(name: string, bytes: Uint8Array): Promise<string> {
  const folder = await mkdtemp(join(root, "file-"));
  const path = join(folder, name);
  await writeFile(path, bytes);
  return path;
}

async function llama2cFile(bytes: Uint8Array): Promise<string> {
  const path = await writeBytes("model.bin", bytes);
  await writeFile(join(path, "..", "tok.bin"), encodeLlama2cTokenizer(padLlama2cPieces(["<unk>", "\n<s>\n", "\n</s>\n", " "], gqaSpec.vocabSize)));
  return path;
}

describe("detectModelFormat", () => {
  it("detects a Hugging Face folder", async () => {
    const dir = await writeHuggingFaceFolder(join(root, "hf-detect"), {
      config: huggingFaceConfig(shape),
      tensors: randomHuggingFaceTensors(shape, 1),
    });
    expect(await detectModelFormat(dir)).toBe("huggingface");
    expect(await detectModelFormat(join(dir, "model.safetensors"))).toBe("safetensors");
  });

  it("detects llama2.c files of both versions", async () => {
    const model = randomTinyLlama(gqaSpec, 2);
    expect(await detectModelFormat(await writeBytes("v0.bin", encodeLlama2cV0(model)))).toBe("llama2c");
    expect(await detectModelFormat(await writeBytes("v1.bin", encodeLlama2cV1(model)))).toBe("llama2c");
  });

  it("detects GGUF and zip magics", async () => {
    expect(await detectModelFormat(await writeBytes("m.gguf", new TextEncoder().encode("GGUF\u0003\u0000\u0000\u0000")))).toBe("gguf");
    expect(await detectModelFormat(await writeBytes("m.pt", Uint8Array.from([0x50, 0x4b, 3, 4, 0, 0, 0, 0])))).toBe("pytorch-zip");
  });

  it("reports text as unknown", async () => {
    expect(await detectModelFormat(await writeBytes("notes.txt", new TextEncoder().encode("Once upon a time there was a file.")))).toBe("unknown");
    expect(await detectModelFormat(await writeBytes("empty.bin", new Uint8Array(0)))).toBe("unknown");
    expect(await detectModelFormat(await mkdtemp(join(root, "empty-dir-")))).toBe("unknown");
  });

  it("reports a missing path", async () => {
    await expect(detectModelFormat(join(root, "absent"))).rejects.toBeInstanceOf(FileNotFoundError);
  });
});

describe("loadModel", () => {
  it("loads a Hugging Face folder", async () => {
    const dir = await writeHuggingFaceFolder(join(root, "hf-load"), {
      config: huggingFaceConfig(shape),
      tensors: randomHuggingFaceTensors(shape, 3),
    });
    const loaded = await loadModel(dir);
    expect(loaded.source.format).toBe("huggingface");
    expect(loaded.config.hiddenSize).toBe(16);
  });

  it("loads a llama2.c file with an explicit tokenizer", async () => {
    const path = await writeBytes("model.bin", encodeLlama2cV1(randomTinyLlama(gqaSpec, 4)));
    const tokenizerPath = join(root, "explicit-tok.bin");
    await writeFile(tokenizerPath, encodeLlama2cTokenizer(padLlama2cPieces(["<unk>", "\n<s>\n", "\n</s>\n", " ", "x"], gqaSpec.vocabSize)));
    const loaded = await loadModel(path, { tokenizerPath });
    expect(loaded.source.format).toBe("llama2c");
    expect(loaded.source.details.version).toBe(1);
    expect(loaded.tokenizer.vocabSize).toBe(gqaSpec.vocabSize);
    expect(loaded.tokenizer.encode("x")).toEqual([3, 4]);
  });

  it("asks for the folder of a bare safetensors file", async () => {
    const path = join(await mkdtemp(join(root, "bare-")), "weights.safetensors");
    await writeSafetensors(path, { w: { shape: [1], data: new Float32Array([1]) } });
    const error = await loadModel(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UnknownFormatError);
    expect((error as Error).message).toContain("config.json");
  });

  it("rejects a PyTorch zip", async () => {
    const error = await loadModel(await writeBytes("pytorch_model.bin", Uint8Array.from([0x50, 0x4b, 3, 4, 0, 0, 0, 0]))).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(UnknownFormatError);
    expect((error as Error).message).toContain("PyTorch");
    expect((error as Error).message).toContain("safetensors");
  });

  it("rejects a tokenizer for a GGUF file", async () => {
    const path = join(await mkdtemp(join(root, "gguf-")), "model.gguf");
    await writeGguf(path, tinyLlama().input);
    const tokenizerPath = join(root, "absent-tokenizer.json");

    const error = await loadModel(path, { tokenizerPath }).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).field).toBe("tokenizer");
    expect((error as Error).message).toContain(tokenizerPath);
    expect((error as Error).message).toContain("contains its own tokenizer");
    expect((await loadModel(path)).source.format).toBe("gguf");
  });

  it("rejects an unknown file", async () => {
    const error = await loadModel(await writeBytes("notes.txt", new TextEncoder().encode("not a model"))).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UnknownFormatError);
    expect((error as Error).message).toContain("GGUF");
  });

  it("rejects an empty path", async () => {
    const error = await loadModel("").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toBe("field model: the model path is empty; pass a model file or folder");
  });

  it("reports an empty file as empty", async () => {
    const path = await writeBytes("empty.gguf", new Uint8Array(0));
    const error = await loadModel(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UnknownFormatError);
    expect((error as Error).message).toBe(`${path}: the file is empty (0 bytes); download or copy the model again`);
  });

  it("rejects a folder without config.json", async () => {
    const dir = await mkdtemp(join(root, "no-config-"));
    await mkdir(join(dir, "sub"));
    const error = await loadModel(dir).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UnknownFormatError);
    expect((error as Error).message).toContain("config.json");
  });

  it("reports a truncated llama2.c file as corrupt", async () => {
    const bytes = encodeLlama2cV0(randomTinyLlama(gqaSpec, 5));
    const error = await loadModel(await llama2cFile(bytes.subarray(0, 1000))).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as Error).message).toContain("1000 bytes");
  });

  it("routes a versioned llama2.c header to the version check", async () => {
    const error = await loadModel(await llama2cFile(encodeVersionedHeader(2, [16, 24, 2, 4, 2, 32, 8], true))).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(UnsupportedVersionError);
  });

  it("reports a missing path", async () => {
    await expect(loadModel(join(root, "absent.bin"))).rejects.toBeInstanceOf(FileNotFoundError);
  });
});

// Opening a FIFO for reading waits for a writer, so without care these loads would never return.
describe.skipIf(process.platform === "win32")("loadModel on FIFOs", () => {
  let fifo: string;

  beforeAll(async () => {
    fifo = join(await mkdtemp(join(root, "fifo-")), "pipe");
    execFileSync("mkfifo", [fifo]);
  });

  it("rejects a FIFO as the model", async () => {
    const error = await loadModel(fifo).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toBe(`${fifo}: not a regular file; pass the path of a model file`);
  });

  it("rejects a FIFO as a llama2.c tokenizer", async () => {
    const path = await llama2cFile(encodeLlama2cV0(randomTinyLlama(gqaSpec, 6)));
    const error = await loadModel(path, { tokenizerPath: fifo }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain(`${fifo}: not a regular file`);
  });

  it("rejects a FIFO as tokenizer.json", async () => {
    const dir = await writeHuggingFaceFolder(join(root, "hf-fifo"), {
      config: huggingFaceConfig(shape),
      tensors: randomHuggingFaceTensors(shape, 7),
    });
    const error = await loadModel(dir, { tokenizerPath: fifo }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain(`${fifo}: not a regular file`);
  });
});

describe.skipIf(!hasShared)("loadModel on shared models", () => {
  it("detects every shared model", async () => {
    expect(await detectModelFormat(sharedPath("models", "stories260K", "stories260K.bin"))).toBe("llama2c");
    expect(await detectModelFormat(sharedPath("models", "aidreams260K", "aidreams260K.bin"))).toBe("llama2c");
    expect(await detectModelFormat(sharedPath("models", "tinystories-656k"))).toBe("huggingface");
    expect(await detectModelFormat(sharedPath("models", "llama-2-tiny-random-gguf", "llama-2-tiny-random.gguf"))).toBe("gguf");
    expect(await detectModelFormat(sharedPath("models", "stories260K", "tok512.bin"))).toBe("unknown");
  });

  it("loads stories260K and tinystories-656k", async () => {
    const stories = await loadModel(sharedPath("models", "stories260K", "stories260K.bin"));
    expect(stories.source.format).toBe("llama2c");
    expect(stories.config.numKvHeads).toBe(4);
    const tinystories = await loadModel(sharedPath("models", "tinystories-656k"));
    expect(tinystories.source.format).toBe("huggingface");
    expect(tinystories.config.headDim).toBe(16);
  });

  it("hands GGUF files to the GGUF loader", async () => {
    const loaded = await loadModel(sharedPath("models", "llama-2-tiny-random-gguf", "llama-2-tiny-random.gguf"));
    expect(loaded.source.format).toBe("gguf");
    expect(loaded.config.hiddenSize).toBe(8);
  });
});
