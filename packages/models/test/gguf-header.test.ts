// GGUF container checks: the writer round trip and hostile or damaged headers (field cases GGUF-01,
// GGUF-02 and GGUF-05, truncated files, tensors claiming bytes the file does not have).
import { readdirSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";

import {
  CorruptFileError,
  f16ToF32,
  f32ToF16,
  UnknownFormatError,
  UnsupportedTensorTypeError,
  UnsupportedVersionError,
} from "@elitekv/core";
import { afterAll, describe, expect, it } from "vitest";

import {
  encodeGguf,
  GgufValueType,
  loadGgufModel,
  readGgufHeader,
  readGgufMetadata,
  readGgufTensor,
  writeGguf,
} from "../src/gguf/index.js";
import { patchU32, patchU64, str, temporaryFolder, tinyLlama, u32 } from "./fixtures/gguf/tiny-llama.js";

const scratch = temporaryFolder();
afterAll(() => scratch.remove());

let fileCounter = 0;
function writeBytes(bytes: Uint8Array): string {
  const path = join(scratch.folder, `fixture-${fileCounter++}.gguf`);
  writeFileSync(path, bytes);
  return path;
}

/** Runs `action` and returns what it threw, failing the test when it does not throw. */
async function caught(action: () => Promise<unknown>): Promise<Error> {
  try {
    await action();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error, but the call succeeded");
}

/** A hand-assembled v3 header: magic, version, counts, then whatever `body` appends. */
function rawHeader(tensorCount: bigint, kvCount: bigint, body: (view: DataView, offset: number) => number): Uint8Array {
  const bytes = new Uint8Array(256);
  const view = new DataView(bytes.buffer);
  bytes.set([0x47, 0x47, 0x55, 0x46], 0);
  view.setUint32(4, 3, true);
  view.setBigUint64(8, tensorCount, true);
  view.setBigUint64(16, kvCount, true);
  const end = body(view, 24);
  return bytes.slice(0, end);
}

describe("GGUF writer round trip", () => {
  it("reads back metadata values of every type", async () => {
    const { bytes } = encodeGguf({
      metadata: [
        ["general.architecture", str("llama")],
        ["test.u8", { type: GgufValueType.UINT8, value: 200 }],
        ["test.i16", { type: GgufValueType.INT16, value: -1234 }],
        ["test.u64", { type: GgufValueType.UINT64, value: 2n ** 40n + 3n }],
        ["test.f64", { type: GgufValueType.FLOAT64, value: Math.PI }],
        ["test.bool", { type: GgufValueType.BOOL, value: true }],
        ["test.floats", { type: GgufValueType.ARRAY, itemType: GgufValueType.FLOAT32, value: [0.5, -2, 3.25] }],
        ["test.strings", { type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value: ["a", "", "▁ü"] }],
      ],
      tensors: [],
    });
    const metadata = await readGgufMetadata(await readGgufHeader(writeBytes(bytes)));

    expect(metadata.string("general.architecture")).toBe("llama");
    expect(metadata.integer("test.u8")).toBe(200);
    expect(metadata.entry("test.i16")?.value).toBe(-1234);
    expect(metadata.integer("test.u64")).toBe(2 ** 40 + 3);
    expect(metadata.number("test.f64")).toBe(Math.PI);
    expect(metadata.bool("test.bool")).toBe(true);
    expect(metadata.typedArray("test.floats", GgufValueType.FLOAT32)).toEqual([0.5, -2, 3.25]);
    expect(metadata.stringArray("test.strings")).toEqual(["a", "", "▁ü"]);
  });

  it("keeps a string that starts with U+FEFF", async () => {
    const { bytes } = encodeGguf({
      metadata: [["test.strings", { type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value: ["a", "\uFEFF", "\uFEFFb"] }]],
      tensors: [],
    });
    const metadata = await readGgufMetadata(await readGgufHeader(writeBytes(bytes)));

    expect(metadata.stringArray("test.strings")).toEqual(["a", "\uFEFF", "\uFEFFb"]);
  });

  it("rejects a string that is not valid UTF-8", async () => {
    const { bytes } = encodeGguf({
      metadata: [["test.strings", { type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value: ["ok", "\u00e9zz"] }]],
      tensors: [],
    });
    const at = Buffer.from(bytes).indexOf(Buffer.from("\u00e9zz"));
    bytes[at] = 0xff;
    const error = await caught(async () => readGgufMetadata(await readGgufHeader(writeBytes(bytes))));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("test.strings");
    expect(error.message).toContain("UTF-8");
  });

  it("stores F32 exactly and F16 with half rounding, shapes reversed", async () => {
    const f32Data = Float32Array.from([1.5, -0.1, 3e-8, 65_504, 1e9, -7]);
    const f16Data = Float32Array.from([0.1, -2.5, 1e-6, 70_000, 3, -0.333]);
    const path = join(scratch.folder, "round-trip.gguf");
    await writeGguf(path, {
      metadata: [],
      tensors: [
        { name: "a", shape: [2, 3], data: f32Data },
        { name: "b", shape: [3, 2], type: "F16", data: f16Data },
      ],
      alignment: 64,
    });
    const header = await readGgufHeader(path);

    expect(header.alignment).toBe(64);
    expect(header.dataOffset % 64).toBe(0);
    expect(header.tensors.map((tensor) => tensor.dims)).toEqual([
      [3, 2],
      [2, 3],
    ]);
    expect(header.tensors[1].offset % 64).toBe(0);

    const handle = await open(path, "r");
    try {
      const a = await readGgufTensor(handle, header, header.tensors[0]);
      const b = await readGgufTensor(handle, header, header.tensors[1]);
      expect(Array.from(a)).toEqual(Array.from(f32Data));
      expect(Array.from(b)).toEqual(Array.from(f16Data, (value) => f16ToF32(f32ToF16(value))));
    } finally {
      await handle.close();
    }
  });

  it("leaves no temporary file beside the output", async () => {
    const { folder, remove } = temporaryFolder();
    try {
      await writeGguf(join(folder, "model.gguf"), tinyLlama().input);
      expect(readdirSync(folder)).toEqual(["model.gguf"]);
    } finally {
      remove();
    }
  });
});

describe("GGUF-01 zero dimensions and empty names", () => {
  it("rejects an empty tensor name before looking at its dims", async () => {
    const bytes = rawHeader(1n, 0n, (view, offset) => {
      view.setBigUint64(offset, 0n, true); // name length 0
      view.setUint32(offset + 8, 2, true); // n_dims
      view.setBigUint64(offset + 12, 1n, true);
      view.setBigUint64(offset + 20, 0n, true);
      view.setUint32(offset + 28, 0, true); // F32
      view.setBigUint64(offset + 32, 0n, true);
      return offset + 40;
    });
    const error = await caught(() => readGgufHeader(writeBytes(bytes)));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("tensor 0 name");
    expect(error.message).toContain("empty name");
  });

  it("rejects an empty metadata key", async () => {
    const bytes = rawHeader(0n, 1n, (view, offset) => {
      view.setBigUint64(offset, 0n, true); // key length 0
      view.setUint32(offset + 8, GgufValueType.UINT32, true);
      view.setUint32(offset + 12, 7, true);
      return offset + 16;
    });
    const error = await caught(() => readGgufHeader(writeBytes(bytes)));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("metadata key 0");
  });

  it("accepts a named zero-element tensor", async () => {
    const name = "extra";
    const bytes = rawHeader(1n, 0n, (view, offset) => {
      view.setBigUint64(offset, BigInt(name.length), true);
      new Uint8Array(view.buffer).set(new TextEncoder().encode(name), offset + 8);
      let at = offset + 8 + name.length;
      view.setUint32(at, 2, true);
      view.setBigUint64(at + 4, 1n, true);
      view.setBigUint64(at + 12, 0n, true);
      view.setUint32(at + 20, 0, true);
      view.setBigUint64(at + 24, 0n, true);
      at += 32;
      return at; // the file ends right after the tensor info
    });
    const header = await readGgufHeader(writeBytes(bytes));

    expect(header.tensors).toHaveLength(1);
    expect(header.tensors[0].dims).toEqual([1, 0]);
    expect(header.tensors[0].elementCount).toBe(0);
    expect(header.tensors[0].byteSize).toBe(0);
    expect(header.dataSize).toBe(0);
  });

  it("rejects a zero-element tensor where the model needs a weight", async () => {
    const fixture = tinyLlama();
    const { bytes, layout } = encodeGguf(fixture.input);
    // blk.0.ffn_up is [ffn, hidden], so ne[1] is its row count, set to 0 here.
    patchU64(bytes, layout.tensors["blk.0.ffn_up.weight"].dimsOffset + 8, 0n);
    const error = await caught(() => loadGgufModel(writeBytes(bytes)));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("blk.0.ffn_up.weight");
    expect(error.message).toContain("[0, 32]");
  });
});

describe("GGUF-02 hostile header numbers", () => {
  const fixture = tinyLlama();

  it.each([5, 0xffffffff, 0])("rejects n_dims %i", async (dimCount) => {
    const { bytes, layout } = encodeGguf(fixture.input);
    patchU32(bytes, layout.tensors["blk.0.attn_q.weight"].dimCountOffset, dimCount);
    const error = await caught(() => readGgufHeader(writeBytes(bytes)));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("blk.0.attn_q.weight");
    expect(error.message).toContain(`n_dims ${dimCount}`);
  });

  it("rejects ggml type 9999 naming the tensor", async () => {
    const { bytes, layout } = encodeGguf(fixture.input);
    patchU32(bytes, layout.tensors["blk.1.ffn_down.weight"].typeOffset, 9999);
    const error = await caught(() => readGgufHeader(writeBytes(bytes)));

    expect(error).toBeInstanceOf(UnsupportedTensorTypeError);
    expect((error as UnsupportedTensorTypeError).field).toBe("blk.1.ffn_down.weight");
    expect(error.message).toContain("9999");
  });

  it("rejects tensor_count 2^63 in a 1 KiB file", async () => {
    const { bytes } = encodeGguf({ metadata: [["general.architecture", str("llama")]], tensors: [] });
    const file = new Uint8Array(1024);
    file.set(bytes.subarray(0, Math.min(bytes.length, 1024)));
    patchU64(file, 8, 2n ** 63n);
    const error = await caught(() => readGgufHeader(writeBytes(file)));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("tensor_count");
    expect(error.message).toContain("9223372036854775808");
  });

  it("rejects kv_count 2^63 in a 1 KiB file", async () => {
    const file = new Uint8Array(1024);
    file.set(encodeGguf({ metadata: [], tensors: [] }).bytes);
    patchU64(file, 16, 2n ** 63n);
    const error = await caught(() => readGgufHeader(writeBytes(file)));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("kv_count");
  });

  it("rejects token_embd ne[1] = 2^42 + 1", async () => {
    const { bytes, layout } = encodeGguf(fixture.input);
    patchU64(bytes, layout.tensors["token_embd.weight"].dimsOffset + 8, 2n ** 42n + 1n);
    const error = await caught(() => readGgufHeader(writeBytes(bytes)));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("token_embd.weight");
    expect(error.message).toContain("data section");
  });

  it("rejects a dimension whose element count passes 2^53", async () => {
    const { bytes, layout } = encodeGguf(fixture.input);
    patchU64(bytes, layout.tensors["token_embd.weight"].dimsOffset + 8, 2n ** 62n);
    const error = await caught(() => readGgufHeader(writeBytes(bytes)));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("token_embd.weight");
    expect(error.message).toContain("2^53");
  });

  it("rejects an array claiming more elements than the file holds", async () => {
    const { bytes, layout } = encodeGguf(fixture.input);
    // The element count follows the 4-byte element type of the array value.
    patchU64(bytes, layout.keys["tokenizer.ggml.tokens"].valueOffset + 4, 2n ** 40n);
    const error = await caught(() => readGgufHeader(writeBytes(bytes)));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("tokenizer.ggml.tokens");
  });

  it("rejects a string length past the end of the file", async () => {
    const { bytes, layout } = encodeGguf(fixture.input);
    patchU64(bytes, layout.keys["general.name"].valueOffset, 2n ** 63n);
    const error = await caught(() => readGgufHeader(writeBytes(bytes)));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("general.name");
  });

  it("rejects a misaligned tensor offset and overlapping tensors", async () => {
    const misaligned = encodeGguf(fixture.input);
    patchU64(misaligned.bytes, misaligned.layout.tensors["blk.0.attn_k.weight"].offsetOffset, 4n);
    const alignmentError = await caught(() => readGgufHeader(writeBytes(misaligned.bytes)));
    expect(alignmentError).toBeInstanceOf(CorruptFileError);
    expect((alignmentError as CorruptFileError).field).toBe("blk.0.attn_k.weight");
    expect(alignmentError.message).toContain("alignment");

    const overlapping = encodeGguf(fixture.input);
    patchU64(overlapping.bytes, overlapping.layout.tensors["blk.0.attn_k.weight"].offsetOffset, 0n);
    const overlapError = await caught(() => readGgufHeader(writeBytes(overlapping.bytes)));
    expect(overlapError).toBeInstanceOf(CorruptFileError);
    expect(overlapError.message).toContain("overlap");
  });

  it("rejects general.alignment that is not a power of two", async () => {
    const { bytes } = encodeGguf({ ...fixture.input, metadata: [["general.alignment", u32(48)], ...fixture.input.metadata] });
    const error = await caught(() => readGgufHeader(writeBytes(bytes)));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("general.alignment");
  });
});

describe("GGUF-05 versions", () => {
  const fixture = tinyLlama();

  it("rejects a v1 file by name instead of parsing it as v3", async () => {
    const { bytes } = encodeGguf({ ...fixture.input, version: 1 });
    const error = await caught(() => readGgufHeader(writeBytes(bytes)));

    expect(error).toBeInstanceOf(UnsupportedVersionError);
    expect(error.message).toContain("version 1");
  });

  it.each([0, 99])("rejects version %i naming it", async (version) => {
    const { bytes, layout } = encodeGguf(fixture.input);
    patchU32(bytes, layout.versionOffset, version);
    const error = await caught(() => readGgufHeader(writeBytes(bytes)));

    expect(error).toBeInstanceOf(UnsupportedVersionError);
    expect(error.message).toContain(`GGUF version ${version}`);
  });

  it("reads v2 and v3 copies of one model to the same tensors", async () => {
    const v2 = await readGgufHeader(writeBytes(encodeGguf({ ...fixture.input, version: 2 }).bytes));
    const v3 = await readGgufHeader(writeBytes(encodeGguf({ ...fixture.input, version: 3 }).bytes));

    expect(v2.version).toBe(2);
    expect(v3.version).toBe(3);
    expect(v2.tensors).toEqual(v3.tensors);
  });

  it("rejects a file without the GGUF magic", async () => {
    const error = await caught(() => readGgufHeader(writeBytes(new TextEncoder().encode("PK\x03\x04 not a gguf"))));
    expect(error).toBeInstanceOf(UnknownFormatError);
  });
});

describe("GGUF truncated and lying files", () => {
  const fixture = tinyLlama();
  const { bytes, layout } = encodeGguf(fixture.input);

  it("rejects every truncated copy with a typed error", async () => {
    const cuts = [3, 10, 30, 200, 1000, layout.dataOffset - 5, layout.dataOffset + 100, bytes.length - 40];
    for (const cut of cuts) {
      const error = await caught(() => loadGgufModel(writeBytes(bytes.slice(0, cut))));
      const expected = cut < 4 ? UnknownFormatError : CorruptFileError;
      expect(error, `cut at ${cut}`).toBeInstanceOf(expected);
    }
  });

  it("names the tensor whose data the truncated file lacks", async () => {
    const error = await caught(() => loadGgufModel(writeBytes(bytes.slice(0, bytes.length - 40))));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("output.weight");
    expect(error.message).toContain("truncated");
  });

  it("names a tensor whose header claims more bytes than the file has", async () => {
    const patched = bytes.slice();
    // Point the tensor at the end of the file, so its bytes lie past the data section.
    patchU64(patched, layout.tensors["blk.0.ffn_down.weight"].offsetOffset, BigInt(bytes.length));
    const error = await caught(() => loadGgufModel(writeBytes(patched)));

    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("blk.0.ffn_down.weight");
  });
});
