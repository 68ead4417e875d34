import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, truncate, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  CorruptFileError,
  FileNotFoundError,
  InvalidArgumentError,
  InvalidConfigError,
  UnknownFormatError,
  UnsupportedArchitectureError,
  UnsupportedTensorTypeError,
  weightNames,
  type ProgressEvent,
  type Tensor,
} from "@elitekv/core";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";

import { loadHuggingFaceModel } from "../src/huggingface/index.js";
import { loadLlama2cModel } from "../src/llama2c/index.js";
import { readSafetensors, writeSafetensors } from "../src/safetensors/index.js";
import { maxJsonFileBytes } from "../src/tokenizers/read-json-file.js";
import {
  huggingFaceConfig,
  randomHuggingFaceTensors,
  tinyLlamaShape,
  tinyLlamaTensors,
  tinyTokenizerJson,
  writeHuggingFaceFolder,
  type FolderOptions,
  type HuggingFaceShape,
} from "./fixtures/huggingface-files.js";
import { encodeLlama2cTokenizer, encodeLlama2cV0, padLlama2cPieces } from "./fixtures/llama2c-files.js";
import { encodeSafetensors } from "./fixtures/safetensors-files.js";
import { gqaSpec, randomTinyLlama } from "./fixtures/tiny-llama.js";

let root: string;
let counter = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "elitekv-hf-"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const shape: HuggingFaceShape = {
  hiddenSize: 16,
  intermediateSize: 24,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 4,
  vocabSize: 32,
  tieWordEmbeddings: false,
};

async function folder(options: Partial<FolderOptions> = {}): Promise<string> {
  return writeHuggingFaceFolder(join(root, `model-${counter++}`), {
    config: huggingFaceConfig(shape),
    tensors: randomHuggingFaceTensors(shape, counter),
    ...options,
  });
}

async function loadError(dir: string): Promise<Error> {
  const error = await loadHuggingFaceModel(dir).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

describe("Hugging Face loader", () => {
  it("maps every weight to its canonical name", async () => {
    const tensors = randomHuggingFaceTensors(shape, 5);
    const loaded = await loadHuggingFaceModel(await folder({ tensors }));

    expect(loaded.weights.get(weightNames.tokenEmbedding).data).toEqual(tensors.get("model.embed_tokens.weight")?.data);
    expect(loaded.weights.get(weightNames.outputHead).data).toEqual(tensors.get("lm_head.weight")?.data);
    expect(loaded.weights.get(weightNames.finalNorm).data).toEqual(tensors.get("model.norm.weight")?.data);
    const layer = "model.layers.1";
    const pairs: Array<[string, string]> = [
      [weightNames.attentionNorm(1), `${layer}.input_layernorm.weight`],
      [weightNames.queryProjection(1), `${layer}.self_attn.q_proj.weight`],
      [weightNames.keyProjection(1), `${layer}.self_attn.k_proj.weight`],
      [weightNames.valueProjection(1), `${layer}.self_attn.v_proj.weight`],
      [weightNames.outputProjection(1), `${layer}.self_attn.o_proj.weight`],
      [weightNames.ffnNorm(1), `${layer}.post_attention_layernorm.weight`],
      [weightNames.gateProjection(1), `${layer}.mlp.gate_proj.weight`],
      [weightNames.upProjection(1), `${layer}.mlp.up_proj.weight`],
      [weightNames.downProjection(1), `${layer}.mlp.down_proj.weight`],
    ];
    for (const [canonical, name] of pairs) {
      expect(loaded.weights.get(canonical).data).toEqual(tensors.get(name)?.data);
      expect(loaded.weights.get(canonical).shape).toEqual(tensors.get(name)?.shape);
    }
    expect(loaded.weights.names()).toHaveLength(3 + 9 * 2);
    expect(loaded.config.rope.sourceLayout).toBe("half");
    expect(loaded.config.tieWordEmbeddings).toBe(false);
    expect(loaded.source.format).toBe("huggingface");
  });

  it("matches the llama2.c loader on the same model", async () => {
    for (const sharedClassifier of [true, false]) {
      const model = randomTinyLlama({ ...gqaSpec, sharedClassifier }, 31);
      const hf = await loadHuggingFaceModel(
        await folder({ config: huggingFaceConfig(tinyLlamaShape(model)), tensors: tinyLlamaTensors(model) }),
      );
      const llama2cFolder = await mkdtemp(join(root, "l2c-"));
      await writeFile(join(llama2cFolder, "model.bin"), encodeLlama2cV0(model));
      await writeFile(join(llama2cFolder, "tok.bin"), encodeLlama2cTokenizer(padLlama2cPieces(["<unk>", "\n<s>\n", "\n</s>\n"], gqaSpec.vocabSize)));
      const llama2c = await loadLlama2cModel(join(llama2cFolder, "model.bin"));

      expect(hf.weights.names().sort()).toEqual(llama2c.weights.names().sort());
      for (const name of llama2c.weights.names()) expect(hf.weights.get(name)).toEqual(llama2c.weights.get(name));
      expect(hf.config.headDim).toBe(llama2c.config.headDim);
      expect(hf.config.tieWordEmbeddings).toBe(sharedClassifier);
    }
  });

  it("uses an explicit head_dim that differs from hidden / heads", async () => {
    const wide: HuggingFaceShape = { ...shape, hiddenSize: 24, numHeads: 4, numKvHeads: 2, headDim: 8 };
    const loaded = await loadHuggingFaceModel(
      await folder({ config: huggingFaceConfig(wide, true), tensors: randomHuggingFaceTensors(wide, 6) }),
    );
    expect(loaded.config.headDim).toBe(8);
    expect(loaded.config.rope.rotaryDim).toBe(8);
    expect(loaded.weights.get(weightNames.queryProjection(0)).shape).toEqual([32, 24]);
    expect(loaded.weights.get(weightNames.keyProjection(0)).shape).toEqual([16, 24]);
    expect(loaded.weights.get(weightNames.outputProjection(0)).shape).toEqual([24, 32]);
  });

  it("derives head_dim when the key is absent", async () => {
    const twin: HuggingFaceShape = { ...shape, hiddenSize: 24, numHeads: 4, numKvHeads: 2, headDim: 6 };
    const loaded = await loadHuggingFaceModel(
      await folder({ config: huggingFaceConfig(twin, false), tensors: randomHuggingFaceTensors(twin, 7) }),
    );
    expect(loaded.config.headDim).toBe(6);
    expect(loaded.config.rope.rotaryDim).toBe(6);
    expect(loaded.weights.get(weightNames.queryProjection(0)).shape).toEqual([24, 24]);
    expect(loaded.weights.get(weightNames.keyProjection(0)).shape).toEqual([12, 24]);
  });

  it("widens an f16 checkpoint", async () => {
    const tensors = randomHuggingFaceTensors(shape, 8);
    // Multiples of 1/64 in [-1, 1] are exact in f16, so the widened values must match exactly.
    for (const tensor of tensors.values()) tensor.data = tensor.data.map((value) => Math.round(value * 64) / 64);
    const loaded = await loadHuggingFaceModel(await folder({ tensors, dtype: "f16" }));
    expect(loaded.weights.get(weightNames.gateProjection(0)).data).toEqual(tensors.get("model.layers.0.mlp.gate_proj.weight")?.data);
  });

  it("reports progress up to every byte", async () => {
    const events: ProgressEvent[] = [];
    await loadHuggingFaceModel(await folder(), { onProgress: (event) => events.push(event) });
    const start = events[0];
    const last = events.filter((event) => event.type === "advance").pop();
    expect(start.type).toBe("start");
    expect(last?.type).toBe("advance");
    const total = start.type === "start" ? start.total : undefined;
    const current = last?.type === "advance" ? last.current : undefined;
    expect(total).toBeGreaterThan(0);
    expect(current).toBe(total);
    expect(events[events.length - 1].type).toBe("end");
  });
});

describe("Hugging Face output head", () => {
  it("ties when lm_head is absent", async () => {
    const tied = { ...shape, tieWordEmbeddings: true };
    const loaded = await loadHuggingFaceModel(await folder({ config: { ...huggingFaceConfig(tied), tie_word_embeddings: false }, tensors: randomHuggingFaceTensors(tied, 9) }));
    expect(loaded.config.tieWordEmbeddings).toBe(true);
    expect(loaded.weights.has(weightNames.outputHead)).toBe(false);
  });

  it("ignores lm_head when the config ties it", async () => {
    const loaded = await loadHuggingFaceModel(await folder({ config: { ...huggingFaceConfig(shape), tie_word_embeddings: true } }));
    expect(loaded.config.tieWordEmbeddings).toBe(true);
    expect(loaded.weights.has(weightNames.outputHead)).toBe(false);
  });

  it("takes the embedding from a deduplicated lm_head", async () => {
    const tensors = randomHuggingFaceTensors(shape, 10);
    const head = tensors.get("lm_head.weight") as Tensor;
    tensors.delete("model.embed_tokens.weight");
    const loaded = await loadHuggingFaceModel(await folder({ config: { ...huggingFaceConfig(shape), tie_word_embeddings: true }, tensors }));
    expect(loaded.weights.get(weightNames.tokenEmbedding).data).toEqual(head.data);
  });
});

describe("Hugging Face sharded checkpoints", () => {
  it("loads the same weights from shards", async () => {
    const tensors = randomHuggingFaceTensors(shape, 11);
    const single = await loadHuggingFaceModel(await folder({ tensors }));
    const sharded = await loadHuggingFaceModel(await folder({ tensors, shards: 3 }));
    for (const name of single.weights.names()) expect(sharded.weights.get(name)).toEqual(single.weights.get(name));
    expect(sharded.source.files.filter((file) => file.endsWith(".safetensors"))).toHaveLength(3);
  });

  it("reports a missing shard by name", async () => {
    const dir = await folder({ shards: 2 });
    await unlink(join(dir, "model-00002-of-00002.safetensors"));
    const error = await loadError(dir);
    expect(error).toBeInstanceOf(FileNotFoundError);
    expect(error.message).toContain("model-00002-of-00002.safetensors");
  });

  it("rejects a tensor stored in two shards", async () => {
    const dir = await folder({ shards: 2 });
    const index = JSON.parse(await readFile(join(dir, "model.safetensors.index.json"), "utf8"));
    const owner = index.weight_map["model.norm.weight"];
    const other = owner === "model-00001-of-00002.safetensors" ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors";
    const norm = (await readSafetensors(join(dir, owner))).tensors.get("model.norm.weight") as Tensor;
    const otherTensors: Map<string, Tensor> = (await readSafetensors(join(dir, other))).tensors;
    otherTensors.set("model.norm.weight", norm);
    await writeSafetensors(join(dir, other), otherTensors);

    const error = await loadError(dir);
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("model.norm.weight is stored in both");
  });

  it("rejects an index entry whose shard lacks the tensor", async () => {
    const dir = await folder({ shards: 2 });
    const indexPath = join(dir, "model.safetensors.index.json");
    const index = JSON.parse(await readFile(indexPath, "utf8"));
    index.weight_map["model.layers.9.mlp.up_proj.weight"] = "model-00001-of-00002.safetensors";
    await writeFile(indexPath, JSON.stringify(index));
    const error = await loadError(dir);
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("model.layers.9.mlp.up_proj.weight");
  });

  it("rejects shard paths outside the folder", async () => {
    const dir = await folder({ shards: 2 });
    const indexPath = join(dir, "model.safetensors.index.json");
    const index = JSON.parse(await readFile(indexPath, "utf8"));
    index.weight_map["model.norm.weight"] = "../elsewhere.safetensors";
    await writeFile(indexPath, JSON.stringify(index));
    const error = await loadError(dir);
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("../elsewhere.safetensors");
  });
});

describe("Hugging Face loader bad input", () => {
  it("names the tensor and both shapes on a mismatch", async () => {
    const tensors = randomHuggingFaceTensors(shape, 13);
    tensors.set("model.layers.0.self_attn.k_proj.weight", { shape: [16, 16], data: new Float32Array(256) });
    const error = await loadError(await folder({ tensors }));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("model.layers.0.self_attn.k_proj.weight");
    expect(error.message).toContain("[16, 16]");
    expect(error.message).toContain("[8, 16]");
  });

  it("names a missing tensor", async () => {
    const tensors = randomHuggingFaceTensors(shape, 14);
    tensors.delete("model.layers.1.mlp.down_proj.weight");
    const error = await loadError(await folder({ tensors }));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("model.layers.1.mlp.down_proj.weight");
  });

  it("rejects num_hidden_layers above the stored layers", async () => {
    // A config of another model, or a damaged count of a million layers, must fail before 9 tensor
    // names per claimed layer are listed.
    for (const numLayers of [3, 1_000_000]) {
      const config = { ...huggingFaceConfig(shape), num_hidden_layers: numLayers };
      const error = await loadError(await folder({ config }));

      expect(error).toBeInstanceOf(InvalidConfigError);
      expect((error as InvalidConfigError).field).toBe("num_hidden_layers");
      expect(error.message).toContain(`num_hidden_layers is ${numLayers}, but the safetensors files contain weights for only 2 layers`);
    }
  });

  it("rejects bias tensors", async () => {
    const tensors = randomHuggingFaceTensors(shape, 15);
    tensors.set("model.layers.0.self_attn.q_proj.bias", { shape: [16], data: new Float32Array(16) });
    const error = await loadError(await folder({ tensors }));
    expect(error).toBeInstanceOf(UnsupportedArchitectureError);
    expect(error.message).toContain("q_proj.bias");
  });

  it("ignores stored rotary inverse frequencies", async () => {
    const tensors = randomHuggingFaceTensors(shape, 16);
    tensors.set("model.layers.0.self_attn.rotary_emb.inv_freq", { shape: [2], data: new Float32Array([1, 0.01]) });
    const loaded = await loadHuggingFaceModel(await folder({ tensors }));
    expect(loaded.weights.names()).toHaveLength(3 + 9 * 2);
  });

  it("names an unsupported architecture", async () => {
    const error = await loadError(await folder({ config: { ...huggingFaceConfig(shape), architectures: ["Qwen2ForCausalLM"] } }));
    expect(error).toBeInstanceOf(UnsupportedArchitectureError);
    expect(error.message).toContain("Qwen2ForCausalLM");
    expect(error.message).toContain("config.json");
  });

  it("rejects an unsupported tensor dtype", async () => {
    const dir = await folder();
    const tensors = randomHuggingFaceTensors(shape, 17);
    const header: Record<string, unknown> = {};
    const parts: Uint8Array[] = [];
    let offset = 0;
    for (const [name, tensor] of tensors) {
      const isNorm = name === "model.norm.weight";
      const bytes = isNorm ? new Uint8Array(tensor.data.length * 8) : new Uint8Array(tensor.data.buffer.slice(0));
      header[name] = { dtype: isNorm ? "I64" : "F32", shape: tensor.shape, data_offsets: [offset, offset + bytes.byteLength] };
      parts.push(bytes);
      offset += bytes.byteLength;
    }
    const data = new Uint8Array(offset);
    let position = 0;
    for (const part of parts) {
      data.set(part, position);
      position += part.byteLength;
    }
    await writeFile(join(dir, "model.safetensors"), encodeSafetensors(header, data));
    const error = await loadError(dir);
    expect(error).toBeInstanceOf(UnsupportedTensorTypeError);
    expect(error.message).toContain("I64");
    expect(error.message).toContain("model.norm.weight");
  });

  it("reports a truncated safetensors file", async () => {
    const dir = await folder();
    const bytes = await readFile(join(dir, "model.safetensors"));
    await writeFile(join(dir, "model.safetensors"), bytes.subarray(0, bytes.byteLength - 10));
    const error = await loadError(dir);
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("truncated");
  });

  it("reports a missing config.json", async () => {
    const dir = await folder();
    await unlink(join(dir, "config.json"));
    const error = await loadError(dir);
    expect(error).toBeInstanceOf(FileNotFoundError);
    expect(error.message).toContain("config.json");
  });

  it("reports a missing field", async () => {
    const config = huggingFaceConfig(shape);
    delete config.hidden_size;
    const error = await loadError(await folder({ config }));
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect((error as InvalidConfigError).field).toBe("hidden_size");
  });

  it("reports a missing tokenizer.json", async () => {
    const error = await loadError(await folder({ tokenizerJson: null }));
    expect(error).toBeInstanceOf(FileNotFoundError);
    expect(error.message).toContain("tokenizer.json");
  });

  it("rejects a tokenizer.json that is a folder", async () => {
    const dir = await folder({ tokenizerJson: null });
    await mkdir(join(dir, "tokenizer.json"));
    const error = await loadError(dir);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toContain(`${join(dir, "tokenizer.json")}: not a regular file`);
  });

  it("rejects an oversized JSON file before reading it", async () => {
    const dir = await folder();
    // A sparse file: its size is checked, and its bytes are never read or stored.
    await writeFile(join(dir, "generation_config.json"), "");
    await truncate(join(dir, "generation_config.json"), maxJsonFileBytes + 1);
    const error = await loadError(dir);
    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).file).toBe(join(dir, "generation_config.json"));
    expect(error.message).toContain(`the file has ${maxJsonFileBytes + 1} bytes, more than the ${maxJsonFileBytes} bytes`);
  });

  it("rejects a folder with only PyTorch weights", async () => {
    const dir = await folder();
    await unlink(join(dir, "model.safetensors"));
    await writeFile(join(dir, "pytorch_model.bin"), Uint8Array.from([0x50, 0x4b, 3, 4]));
    const error = await loadError(dir);
    expect(error).toBeInstanceOf(UnknownFormatError);
    expect(error.message).toContain("safetensors");
  });

  it("rejects a file path", async () => {
    const dir = await folder();
    const error = await loadError(join(dir, "model.safetensors"));
    expect(error).toBeInstanceOf(InvalidArgumentError);
  });

  it("reports a missing folder", async () => {
    await expect(loadHuggingFaceModel(join(root, "absent"))).rejects.toBeInstanceOf(FileNotFoundError);
  });
});

describe("Hugging Face embedding rows and tokenizer ids", () => {
  const padded = { ...shape, vocabSize: 64, tieWordEmbeddings: true };

  it("loads more rows than tokenizer ids", async () => {
    const loaded = await loadHuggingFaceModel(
      await folder({ config: huggingFaceConfig(padded), tensors: randomHuggingFaceTensors(padded, 18), tokenizerJson: tinyTokenizerJson(60, 2) }),
    );
    expect(loaded.config.vocabSize).toBe(64);
    expect(loaded.tokenizer.vocabSize).toBe(62);
    expect(loaded.tokenizer.decode([63])).toBe("\uFFFD");
    expect(loaded.tokenizer.decode([61])).toBe("<extra_1>");
  });

  it("rejects more tokenizer ids than rows, naming both", async () => {
    const error = await loadError(
      await folder({ config: huggingFaceConfig(padded), tensors: randomHuggingFaceTensors(padded, 19), tokenizerJson: tinyTokenizerJson(63, 2) }),
    );
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect(error.message).toContain("65 token ids");
    expect(error.message).toContain("is 64");
  });

  it("collects EOS ids from every config", async () => {
    const loaded = await loadHuggingFaceModel(
      await folder({
        config: { ...huggingFaceConfig(shape), eos_token_id: [2, 5] },
        generationConfig: { eos_token_id: [5, 7] },
      }),
    );
    expect(loaded.config.eosTokenIds).toEqual([2, 5, 7]);
    expect(loaded.tokenizer.eosIds).toEqual([2, 5, 7]);
    expect(loaded.config.bosTokenId).toBe(1);
  });
});

describe.skipIf(!hasShared)("tinystories-656k folder", () => {
  it("loads the tied checkpoint", async () => {
    const dir = sharedPath("models", "tinystories-656k");
    const loaded = await loadHuggingFaceModel(dir);
    expect(loaded.config).toMatchObject({
      hiddenSize: 128,
      intermediateSize: 384,
      numLayers: 2,
      numHeads: 8,
      numKvHeads: 4,
      headDim: 16,
      vocabSize: 2048,
      rmsNormEps: 1e-6,
      tieWordEmbeddings: true,
      bosTokenId: 1,
      eosTokenIds: [2],
    });
    expect(loaded.weights.names()).toHaveLength(2 + 9 * 2);

    // The file stores the shared matrix once, as lm_head.weight; read its first row independently.
    const bytes = readFileSync(join(dir, "model.safetensors"));
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8"));
    const begin = 8 + headerLength + header["lm_head.weight"].data_offsets[0];
    const firstRow = Float32Array.from({ length: 128 }, (_, index) => bytes.readFloatLE(begin + 4 * index));
    expect(loaded.weights.get(weightNames.tokenEmbedding).data.subarray(0, 128)).toEqual(firstRow);
  });
});
