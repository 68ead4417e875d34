import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { CorruptFileError, FileNotFoundError, UnknownFormatError, UnsupportedTensorTypeError } from "@elitekv/core";

import { readSafetensors, readSafetensorsHeader } from "../src/safetensors/index.js";
import { encodeSafetensors, float32Bytes, uint16Bytes, type RawSafetensorsOptions } from "./fixtures/safetensors-files.js";

const fixtures = join(dirname(fileURLToPath(import.meta.url)), "fixtures");
let folder: string;
let counter = 0;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), "elitekv-safetensors-"));
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

async function writeRaw(header: object | string, data?: Uint8Array, options?: RawSafetensorsOptions): Promise<string> {
  const path = join(folder, `case-${counter++}.safetensors`);
  await writeFile(path, encodeSafetensors(header, data, options));
  return path;
}

async function readError(path: string): Promise<Error> {
  const error = await readSafetensors(path).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

const w = { dtype: "F32", shape: [2], data_offsets: [0, 8] };

describe("safetensors zero-element tensors", () => {
  it("loads [0] and [3, 0] beside data", async () => {
    const header = {
      e: { dtype: "F32", shape: [0], data_offsets: [0, 0] },
      w,
      z: { dtype: "F16", shape: [3, 0], data_offsets: [8, 8] },
    };
    const file = await readSafetensors(await writeRaw(header, float32Bytes([1.5, -2])));

    expect(file.tensors.get("e")?.shape).toEqual([0]);
    expect(file.tensors.get("e")?.data).toHaveLength(0);
    expect(file.tensors.get("z")?.shape).toEqual([3, 0]);
    expect(file.tensors.get("z")?.dtype).toBe("F16");
    expect(file.tensors.get("w")?.data).toEqual(new Float32Array([1.5, -2]));
  });

  it("rejects [1] with an empty range", async () => {
    const error = await readError(await writeRaw({ bad: { dtype: "F32", shape: [1], data_offsets: [0, 0] } }));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("needs 4 bytes");
    expect((error as CorruptFileError).field).toBe("tensor bad");
  });
});

describe("safetensors byte ranges", () => {
  it("rejects a range shorter than the shape", async () => {
    const error = await readError(await writeRaw({ t: { dtype: "F32", shape: [1000, 1000], data_offsets: [0, 4] } }, float32Bytes([1])));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("4000000 bytes");
  });

  it("rejects two tensors sharing a range", async () => {
    const header = {
      k: { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] },
      v: { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] },
    };
    const error = await readError(await writeRaw(header, new Uint8Array(32)));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("overlap");
  });

  it("rejects overlapping ranges", async () => {
    const header = {
      a: { dtype: "F32", shape: [4], data_offsets: [0, 16] },
      b: { dtype: "F32", shape: [4], data_offsets: [8, 24] },
    };
    const error = await readError(await writeRaw(header, new Uint8Array(24)));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("overlap");
  });

  it("rejects a hole between ranges", async () => {
    const header = {
      a: { dtype: "F32", shape: [4], data_offsets: [0, 16] },
      b: { dtype: "F32", shape: [4], data_offsets: [20, 36] },
    };
    const error = await readError(await writeRaw(header, new Uint8Array(36)));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("bytes 16 to 20");
  });

  it("rejects trailing bytes", async () => {
    const error = await readError(await writeRaw({ w }, new Uint8Array(16)));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("the file has 8 trailing bytes after the last tensor");
    expect(error.message).toContain("download it again");
  });

  it("rejects data shorter than the ranges", async () => {
    const error = await readError(await writeRaw({ w }, new Uint8Array(4)));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("the tensors need 8 data bytes but the file has only 4 after the header");
    expect(error.message).toContain("the file is truncated, download it again");
  });

  const badOffsets: Array<[string, unknown]> = [
    ["end before begin", [8, 0]],
    ["three numbers", [0, 8, 8]],
    ["one number", [8]],
    ["a negative begin", [-8, 0]],
    ["a fraction", [0, 7.5]],
    ["strings", ["0", "8"]],
  ];
  for (const [label, offsets] of badOffsets) {
    it(`rejects offsets with ${label}`, async () => {
      const error = await readError(await writeRaw({ w: { dtype: "F32", shape: [2], data_offsets: offsets } }, new Uint8Array(8)));
      expect(error).toBeInstanceOf(CorruptFileError);
      expect((error as CorruptFileError).field).toBe("tensor w");
    });
  }

  it("rejects offsets beyond 2^53", async () => {
    const text = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551607,18446744073709551615]}}';
    const error = await readError(await writeRaw(text, new Uint8Array(8)));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("2^53");
  });

  it("rejects a shape whose size overflows 2^64", async () => {
    const header = { w: { dtype: "F32", shape: [2 ** 42 + 1, 2 ** 42], data_offsets: [0, 8] } };
    const error = await readError(await writeRaw(header, new Uint8Array(8)));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("needs");
  });

  it("rejects negative dimensions", async () => {
    const error = await readError(await writeRaw({ w: { dtype: "F32", shape: [-2], data_offsets: [0, 8] } }, new Uint8Array(8)));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("shape");
  });
});

describe("safetensors metadata", () => {
  it("rejects non-string values", async () => {
    const error = await readError(await writeRaw({ __metadata__: { format: "pt", n: 0 }, w }, new Uint8Array(8)));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("__metadata__.n");
  });

  it("loads a file with metadata only", async () => {
    const file = await readSafetensors(await writeRaw({ __metadata__: { format: "pt" } }));
    expect(file.tensors.size).toBe(0);
    expect(file.metadata).toEqual({ format: "pt" });
  });

  it("loads empty metadata", async () => {
    const file = await readSafetensors(await writeRaw({ __metadata__: {}, w }, float32Bytes([3, 4])));
    expect(file.metadata).toEqual({});
    expect(file.tensors.get("w")?.data).toEqual(new Float32Array([3, 4]));
  });

  it("rejects a tensor named __metadata__", async () => {
    const error = await readError(await writeRaw({ __metadata__: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8)));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("reserved");
  });
});

describe("safetensors header framing", () => {
  it("rejects a header length above the cap fast", async () => {
    const started = performance.now();
    const error = await readError(await writeRaw({ w }, new Uint8Array(8), { declaredLength: 100_000_001n }));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("100000001");
    expect(error.message).toContain("100000000");
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("rejects a header length of 2^64 - 1", async () => {
    const error = await readError(await writeRaw({ w }, new Uint8Array(8), { declaredLength: 2n ** 64n - 1n }));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("18446744073709551615");
  });

  it("rejects a header length past the end of the file", async () => {
    const error = await readError(await writeRaw({ w }, new Uint8Array(8), { declaredLength: 5000n }));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("past the end");
  });

  it("names a PyTorch zip", async () => {
    const path = join(folder, "pytorch_model.bin");
    await writeFile(path, Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0, 0, 0, 0, 0]));
    const error = await readError(path);
    expect(error).toBeInstanceOf(UnknownFormatError);
    expect(error.message).toContain("PyTorch");
  });

  it("names a GGUF file", async () => {
    const path = join(folder, "model.gguf");
    await writeFile(path, new TextEncoder().encode("GGUF\u0003\u0000\u0000\u0000\u0000\u0000\u0000\u0000"));
    const error = await readError(path);
    expect(error).toBeInstanceOf(UnknownFormatError);
    expect(error.message).toContain("GGUF");
  });

  it("accepts trailing spaces", async () => {
    const file = await readSafetensors(await writeRaw({ w }, float32Bytes([1, 2]), { padding: "     " }));
    expect(file.tensors.get("w")?.data).toEqual(new Float32Array([1, 2]));
  });

  it("accepts surrounding JSON whitespace", async () => {
    // The reference parser (serde_json) skips JSON whitespace on both sides of the object.
    const text = `\t\n${JSON.stringify({ w })}\r `;
    const file = await readSafetensors(await writeRaw(text, float32Bytes([5, 6])));
    expect(file.tensors.get("w")?.data).toEqual(new Float32Array([5, 6]));
  });

  it("rejects NUL padding", async () => {
    const error = await readError(await writeRaw({ w }, new Uint8Array(8), { padding: "\u0000\u0000\u0000" }));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("NUL");
  });

  it("rejects invalid JSON", async () => {
    const error = await readError(await writeRaw('{"w": {', new Uint8Array(0)));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("JSON");
  });

  it("rejects a JSON array header", async () => {
    const error = await readError(await writeRaw("[1, 2]"));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("object");
  });

  it("rejects a file shorter than 8 bytes", async () => {
    const path = join(folder, "tiny.safetensors");
    await writeFile(path, new Uint8Array(5));
    const error = await readError(path);
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toContain("5 bytes");
  });

  it("reports a missing file", async () => {
    await expect(readSafetensors(join(folder, "absent.safetensors"))).rejects.toBeInstanceOf(FileNotFoundError);
  });
});

describe("safetensors dtypes", () => {
  it("widens F16 bit patterns", async () => {
    // 1, -2, 65504 (largest finite), 2^-24 (smallest subnormal), +infinity.
    const header = { h: { dtype: "F16", shape: [5], data_offsets: [0, 10] } };
    const file = await readSafetensors(await writeRaw(header, uint16Bytes([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00])));
    expect(Array.from(file.tensors.get("h")?.data ?? [])).toEqual([1, -2, 65504, 2 ** -24, Infinity]);
  });

  it("widens BF16 bit patterns", async () => {
    const header = { b: { dtype: "BF16", shape: [3], data_offsets: [0, 6] } };
    const file = await readSafetensors(await writeRaw(header, uint16Bytes([0x3f80, 0xc040, 0x4049])));
    expect(Array.from(file.tensors.get("b")?.data ?? [])).toEqual([1, -3, 3.140625]);
    expect(file.tensors.get("b")?.dtype).toBe("BF16");
  });

  it("rejects reading an I64 tensor by name", async () => {
    const path = await writeRaw({ ids: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8));
    const header = await readSafetensorsHeader(path);
    expect(header.tensors[0].dtype).toBe("I64");

    const error = await readError(path);
    expect(error).toBeInstanceOf(UnsupportedTensorTypeError);
    expect(error.message).toContain("I64");
    expect((error as UnsupportedTensorTypeError).field).toBe("tensor ids");
  });

  it("rejects an unknown dtype", async () => {
    const error = await readError(await writeRaw({ q: { dtype: "Q4_0", shape: [32], data_offsets: [0, 18] } }, new Uint8Array(18)));
    expect(error).toBeInstanceOf(UnsupportedTensorTypeError);
    expect(error.message).toContain("Q4_0");
  });

  it("reads a file written by the reference library", async () => {
    const file = await readSafetensors(join(fixtures, "reference-written.safetensors"));
    expect(file.metadata).toEqual({ note: "written by safetensors 0.5.3" });
    expect(Array.from(file.tensors.get("f32")?.data ?? [])).toEqual([0.5, -1.25, 3, Math.fround(1e-8)]);
    expect(file.tensors.get("f32")?.shape).toEqual([2, 2]);
    expect(Array.from(file.tensors.get("f16")?.data ?? [])).toEqual([1, -0.5, 2048]);
    expect(Array.from(file.tensors.get("bf16")?.data ?? [])).toEqual([1, -2, 256]);
    expect(file.tensors.get("empty")?.shape).toEqual([0, 3]);
  });
});
