// loadGgufModel: config from metadata, weights in canonical names with q/k back in the half layout
// (checked against llama.cpp's converter permutation), RoPE scaling from rope_freqs.weight, and typed
// errors for models this loader must not guess at.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import {
  CorruptFileError,
  f16ToF32,
  f32ToF16,
  InvalidConfigError,
  ropeInverseFrequencies,
  UnsupportedArchitectureError,
  UnsupportedTensorTypeError,
  type LoadedModel,
  type ProgressEvent,
} from "@elitekv/core";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { encodeGguf, ggmlTypeByName, GgufValueType, loadGgufModel, writeGguf } from "../src/gguf/index.js";
import {
  f32,
  llamaCppPermute,
  numbers,
  str,
  temporaryFolder,
  tinyLlama,
  u32,
  withMetadata,
  type TinyLlama,
} from "./fixtures/gguf/tiny-llama.js";

const scratch = temporaryFolder();
afterAll(() => scratch.remove());

let fileCounter = 0;
async function writeFixture(input: TinyLlama["input"]): Promise<string> {
  const path = join(scratch.folder, `model-${fileCounter++}.gguf`);
  await writeGguf(path, input);
  return path;
}

async function caught(action: () => Promise<unknown>): Promise<Error> {
  try {
    await action();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error, but the call succeeded");
}

describe("loadGgufModel on a written F32 model", () => {
  const fixture = tinyLlama();

  it("builds the config from the llama.* keys", async () => {
    const model = await loadGgufModel(await writeFixture(fixture.input));

    expect(model.config).toEqual({
      architecture: "llama",
      hiddenSize: 32,
      intermediateSize: 48,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 8,
      vocabSize: fixture.vocabulary.tokens.length,
      maxPositionEmbeddings: 64,
      rmsNormEps: Math.fround(1e-5),
      rope: { theta: 10_000, scaling: { type: "none" }, rotaryDim: 8, sourceLayout: "interleaved" },
      tieWordEmbeddings: false,
      bosTokenId: 1,
      eosTokenIds: [2],
    });
  });

  it("returns weights in the Hugging Face layout", async () => {
    const model = await loadGgufModel(await writeFixture(fixture.input));

    expect(model.weights.names().sort()).toEqual([...fixture.reference.keys()].sort());
    for (const [name, expected] of fixture.reference) {
      const tensor = model.weights.get(name);
      expect(tensor.shape, name).toEqual(expected.shape);
      expect(Array.from(tensor.data), name).toEqual(Array.from(expected.data));
    }
  });

  it("fills the source details", async () => {
    const path = await writeFixture(fixture.input);
    const model = await loadGgufModel(path);

    expect(model.source.format).toBe("gguf");
    expect(model.source.path).toBe(path);
    expect(model.source.files).toEqual([path]);
    expect(model.source.details).toMatchObject({
      version: 3,
      alignment: 32,
      fileType: 0,
      tensorTypes: "F32: 21",
      tokenizerModel: "llama",
    });
  });

  it("reports progress once per tensor", async () => {
    const events: ProgressEvent[] = [];
    await loadGgufModel(await writeFixture(fixture.input), { onProgress: (event) => events.push(event) });

    expect(events[0]).toMatchObject({ type: "start", total: 21, unit: "tensors" });
    expect(events.filter((event) => event.type === "advance")).toHaveLength(21);
    expect(events.at(-1)?.type).toBe("end");
  });
});

describe("loadGgufModel variants", () => {
  it("ties the output head when output.weight is absent", async () => {
    const model = await loadGgufModel(await writeFixture(tinyLlama({ tied: true }).input));

    expect(model.config.tieWordEmbeddings).toBe(true);
    expect(model.weights.has("output_head")).toBe(false);
  });

  it("uses attention.key_length as head_dim when it differs from hidden / heads", async () => {
    const fixture = tinyLlama({ hidden: 24, heads: 4, kvHeads: 2, headDim: 8 });
    const model = await loadGgufModel(await writeFixture(fixture.input));

    expect(model.config.headDim).toBe(8);
    expect(model.weights.get("layers.0.wq").shape).toEqual([32, 24]);
    expect(model.weights.get("layers.0.wo").shape).toEqual([24, 32]);
    expect(Array.from(model.weights.get("layers.1.wk").data)).toEqual(
      Array.from(fixture.reference.get("layers.1.wk")!.data),
    );
  });

  it("widens F16 storage with half rounding", async () => {
    const fixture = tinyLlama({ storage: "F16" });
    const model = await loadGgufModel(await writeFixture(fixture.input));
    const expected = fixture.reference.get("layers.0.wq")!.data;

    expect(Array.from(model.weights.get("layers.0.wq").data)).toEqual(
      Array.from(expected, (value) => f16ToF32(f32ToF16(value))),
    );
  });

  it("rejects an architecture other than llama, naming it", async () => {
    const input = withMetadata(tinyLlama().input, "general.architecture", str("qwen2"));
    const error = await caught(async () => loadGgufModel(await writeFixture(input)));

    expect(error).toBeInstanceOf(UnsupportedArchitectureError);
    expect(error.message).toContain('"qwen2"');
  });

  it("rejects a missing llama.block_count, naming the key", async () => {
    const input = withMetadata(tinyLlama().input, "llama.block_count");
    const error = await caught(async () => loadGgufModel(await writeFixture(input)));

    expect(error).toBeInstanceOf(InvalidConfigError);
    expect((error as InvalidConfigError).field).toBe("llama.block_count");
  });

  it("rejects a key stored with the wrong type", async () => {
    const input = withMetadata(tinyLlama().input, "llama.embedding_length", str("32"));
    const error = await caught(async () => loadGgufModel(await writeFixture(input)));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("llama.embedding_length");
  });

  it("rejects tensors outside the llama layout", async () => {
    const input = tinyLlama().input;
    const withBias = {
      ...input,
      tensors: [...input.tensors, { name: "blk.0.attn_q.bias", shape: [32], data: new Float32Array(32) }],
    };
    const error = await caught(async () => loadGgufModel(await writeFixture(withBias)));

    expect(error).toBeInstanceOf(UnsupportedArchitectureError);
    expect((error as UnsupportedArchitectureError).field).toBe("blk.0.attn_q.bias");
  });

  it("rejects a missing layer weight, naming it", async () => {
    const input = tinyLlama().input;
    const without = { ...input, tensors: input.tensors.filter((tensor) => tensor.name !== "blk.1.attn_v.weight") };
    const error = await caught(async () => loadGgufModel(await writeFixture(without)));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("blk.1.attn_v.weight");
  });

  it("rejects a block_count above the stored layers", async () => {
    // A single corrupt byte can turn block_count into millions. Listing 9 names per claimed layer
    // before the first missing tensor is reported would then take seconds and gigabytes.
    for (const blockCount of [3, 1_000_000]) {
      const input = withMetadata(tinyLlama().input, "llama.block_count", u32(blockCount));
      const error = await caught(async () => loadGgufModel(await writeFixture(input)));

      expect(error).toBeInstanceOf(CorruptFileError);
      expect((error as CorruptFileError).field).toBe("llama.block_count");
      expect(error.message).toContain(`is ${blockCount}, but the file has tensors for only 2 layers`);
    }
  });

  it("rejects a tensor shape that contradicts the metadata", async () => {
    const input = withMetadata(tinyLlama().input, "llama.feed_forward_length", u32(40));
    const error = await caught(async () => loadGgufModel(await writeFixture(input)));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("blk.0.ffn_gate.weight");
    expect(error.message).toContain("[48, 32]");
    expect(error.message).toContain("[40, 32]");
  });

  it("rejects a weight of a type it cannot dequantize, naming tensor and type", async () => {
    const input = tinyLlama().input;
    const iq4nl = ggmlTypeByName("IQ4_NL")!;
    const tensors = input.tensors.map((tensor) =>
      tensor.name === "blk.0.ffn_gate.weight"
        ? { name: tensor.name, shape: tensor.shape, type: iq4nl.id, bytes: new Uint8Array((48 * 32 * 18) / 32) }
        : tensor,
    );
    const error = await caught(async () => loadGgufModel(await writeFixture({ ...input, tensors })));

    expect(error).toBeInstanceOf(UnsupportedTensorTypeError);
    expect((error as UnsupportedTensorTypeError).field).toBe("blk.0.ffn_gate.weight");
    expect(error.message).toContain("IQ4_NL");
  });

  it("rejects more tokenizer ids than embedding rows, naming both sizes", async () => {
    const fixture = tinyLlama();
    const vocab = fixture.vocabulary.tokens.length;
    const tensors = fixture.input.tensors.map((tensor) =>
      tensor.name === "token_embd.weight" || tensor.name === "output.weight"
        ? { name: tensor.name, shape: [vocab - 3, 32], data: new Float32Array((vocab - 3) * 32) }
        : tensor,
    );
    const error = await caught(async () => loadGgufModel(await writeFixture({ ...fixture.input, tensors })));

    expect(error).toBeInstanceOf(InvalidConfigError);
    expect(error.message).toContain(`${vocab}`);
    expect(error.message).toContain(`${vocab - 3}`);
  });

  it("loads more embedding rows than tokenizer ids", async () => {
    const fixture = tinyLlama();
    const rows = fixture.vocabulary.tokens.length + 5;
    const tensors = fixture.input.tensors.map((tensor) =>
      tensor.name === "token_embd.weight" || tensor.name === "output.weight"
        ? { name: tensor.name, shape: [rows, 32], data: new Float32Array(rows * 32) }
        : tensor,
    );
    const model = await loadGgufModel(await writeFixture({ ...fixture.input, tensors }));

    expect(model.config.vocabSize).toBe(rows);
    expect(model.tokenizer.vocabSize).toBe(rows - 5);
    expect(model.tokenizer.decode([rows - 1, rows - 2])).toBe("");
  });
});

describe("RoPE scaling from rope_freqs.weight", () => {
  const theta = 500_000;
  const headDim = 64;

  /** Per-chunk divisors as llama.cpp's converter writes them for Llama 3.1-style scaling. */
  function llama3Divisors(factor: number, low: number, high: number, original: number): Float32Array {
    const divisors = new Float32Array(headDim / 2);
    for (let j = 0; j < headDim / 2; j++) {
      const frequency = 1 / theta ** ((2 * j) / headDim);
      const wavelength = (2 * Math.PI) / frequency;
      if (wavelength < original / high) divisors[j] = 1;
      else if (wavelength > original / low) divisors[j] = factor;
      else {
        const smooth = (original / wavelength - low) / (high - low);
        divisors[j] = 1 / ((1 - smooth) / factor + smooth);
      }
    }
    return divisors;
  }

  async function loadWithDivisors(divisors: Float32Array, extra: Array<[string, ReturnType<typeof u32>]> = []) {
    const fixture = tinyLlama({ hidden: 64, heads: 1, kvHeads: 1, ropeTheta: theta, ffn: 32, layers: 1 });
    const input = {
      metadata: [...fixture.input.metadata, ...extra],
      tensors: [...fixture.input.tensors, { name: "rope_freqs.weight", shape: [headDim / 2], data: divisors }],
    };
    return loadGgufModel(await writeFixture(input));
  }

  it("recovers llama3 scaling with factor 32 and the reference frequency bands", async () => {
    const divisors = llama3Divisors(32, 1, 4, 8192);
    const model = await loadWithDivisors(divisors);

    expect(model.config.rope.scaling).toEqual({
      type: "llama3",
      factor: 32,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
    const frequencies = ropeInverseFrequencies(model.config.rope);
    for (let j = 0; j < headDim / 2; j++) {
      const expected = 1 / theta ** ((2 * j) / headDim) / divisors[j];
      expect(Math.abs(frequencies[j] - expected) / expected, `chunk ${j}`).toBeLessThan(1e-6);
    }
    // Pairs 0-14 keep their frequency, 15-17 are interpolated and 18-31 are divided by 32.
    expect(Array.from(divisors.slice(0, 15)).every((value) => value === 1)).toBe(true);
    expect(Array.from(divisors.slice(15, 18)).every((value) => value > 1 && value < 32)).toBe(true);
    expect(Array.from(divisors.slice(18)).every((value) => value === 32)).toBe(true);
  });

  it("fits low and high frequency factors other than 1 and 4", async () => {
    const model = await loadWithDivisors(llama3Divisors(8, 2, 16, 8192));
    const scaling = model.config.rope.scaling;

    expect(scaling.type).toBe("llama3");
    if (scaling.type !== "llama3") return;
    expect(scaling.factor).toBe(8);
    expect(scaling.lowFreqFactor).toBeCloseTo(2, 4);
    expect(scaling.highFreqFactor).toBeCloseTo(16, 3);
  });

  it("reads constant divisors as linear scaling and ones as none", async () => {
    const linear = await loadWithDivisors(new Float32Array(headDim / 2).fill(4));
    const none = await loadWithDivisors(new Float32Array(headDim / 2).fill(1));

    expect(linear.config.rope.scaling).toEqual({ type: "linear", factor: 4 });
    expect(none.config.rope.scaling).toEqual({ type: "none" });
  });

  it("rejects divisors that no supported scaling reproduces", async () => {
    const divisors = Float32Array.from({ length: headDim / 2 }, (_, j) => 1 + ((j * 7) % 5));
    const error = await caught(() => loadWithDivisors(divisors));

    expect(error).toBeInstanceOf(InvalidConfigError);
    expect((error as InvalidConfigError).field).toBe("rope_freqs.weight");
  });

  it("reads linear scaling from rope.scaling.type", async () => {
    const fixture = tinyLlama();
    const input = {
      ...fixture.input,
      metadata: [
        ...fixture.input.metadata,
        ["llama.rope.scaling.type", str("linear")] as [string, ReturnType<typeof str>],
        ["llama.rope.scaling.factor", f32(2)] as [string, ReturnType<typeof f32>],
      ],
    };
    const model = await loadGgufModel(await writeFixture(input));

    expect(model.config.rope.scaling).toEqual({ type: "linear", factor: 2 });
  });

  it("rejects yarn scaling by name", async () => {
    const input = withMetadata(tinyLlama().input, "llama.rope.scaling.type", str("yarn"));
    const error = await caught(async () => loadGgufModel(await writeFixture(input)));

    expect(error).toBeInstanceOf(InvalidConfigError);
    expect(error.message).toContain('"yarn"');
  });
});

describe.skipIf(!hasShared)("llama-2-tiny-random.gguf", () => {
  const path = sharedPath("models", "llama-2-tiny-random-gguf", "llama-2-tiny-random.gguf");
  let model: LoadedModel;
  beforeAll(async () => {
    model = await loadGgufModel(path);
  });

  it("loads with the config its metadata declares", () => {
    expect(model.config).toMatchObject({
      hiddenSize: 8,
      intermediateSize: 32,
      numLayers: 1,
      numHeads: 2,
      numKvHeads: 2,
      headDim: 4,
      vocabSize: 32_000,
      maxPositionEmbeddings: 4096,
      rope: { theta: 10_000, scaling: { type: "none" }, rotaryDim: 4, sourceLayout: "interleaved" },
      tieWordEmbeddings: false,
      bosTokenId: 1,
      eosTokenIds: [2],
    });
    expect(model.config.rmsNormEps).toBeCloseTo(1e-5, 10);
    expect(model.source.details).toMatchObject({ version: 3, fileType: 1, tensorTypes: "F16: 9, F32: 3" });
  });

  it("un-permutes attn_q exactly as llama.cpp's converter permuted it", () => {    // attn_q is 8x8 F16 at byte 1236416 of the file (offset reported by gguf-py's GGUFReader).
    const bytes = readFileSync(path).subarray(1_236_416, 1_236_416 + 128);
    const stored = Float32Array.from({ length: 64 }, (_, i) => f16ToF32(bytes[2 * i] | (bytes[2 * i + 1] << 8)));
    const wq = model.weights.get("layers.0.wq").data;

    expect(Array.from(llamaCppPermute(wq, 8, 8, 2))).toEqual(Array.from(stored));
  });

  it("has norm weights of exactly 1", () => {
    expect(Array.from(model.weights.get("final_norm").data)).toEqual(new Array(8).fill(1));
  });
});

describe("GGUF metadata edge cases", () => {
  it("rejects llama.vocab_size that disagrees with token_embd", async () => {
    const input = withMetadata(tinyLlama().input, "llama.vocab_size", u32(999));
    const error = await caught(async () => loadGgufModel(await writeFixture(input)));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("llama.vocab_size");
  });

  it("rejects mixture-of-experts llama files", async () => {
    const input = withMetadata(tinyLlama().input, "llama.expert_count", u32(8));
    const error = await caught(async () => loadGgufModel(await writeFixture(input)));

    expect(error).toBeInstanceOf(UnsupportedArchitectureError);
    expect((error as UnsupportedArchitectureError).field).toBe("llama.expert_count");
  });

  it("rejects a feed_forward_length array", async () => {
    const input = withMetadata(tinyLlama().input, "llama.feed_forward_length", numbers(GgufValueType.UINT32, [48, 48]));
    const error = await caught(async () => loadGgufModel(await writeFixture(input)));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("llama.feed_forward_length");
  });

  it("loads a file written with 64-byte alignment to the same weights", async () => {
    const fixture = tinyLlama();
    const { bytes } = encodeGguf({ ...fixture.input, alignment: 64 });
    const path = join(scratch.folder, "aligned-64.gguf");
    writeFileSync(path, bytes);
    const model = await loadGgufModel(path);

    expect(model.source.details.alignment).toBe(64);
    expect(Array.from(model.weights.get("layers.1.w2").data)).toEqual(
      Array.from(fixture.reference.get("layers.1.w2")!.data),
    );
  });
});
