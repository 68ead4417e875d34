import { readdir, readFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { InvalidArgumentError, type Tensor } from "@elitekv/core";

import { readSafetensors, writeSafetensors } from "../src/safetensors/index.js";
import { seededRandom } from "./fixtures/tiny-llama.js";

let folder: string;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), "elitekv-safetensors-write-"));
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

function sampleTensors(): Map<string, Tensor> {
  const random = seededRandom(3);
  return new Map<string, Tensor>([
    ["layers.0.wq", { shape: [3, 4], data: Float32Array.from({ length: 12 }, () => random() * 100) }],
    ["special", { shape: [6], data: new Float32Array([0, -0, Infinity, -Infinity, 1e-40, 3.4e38]) }],
    ["empty", { shape: [0, 5], data: new Float32Array(0) }],
    ["bias", { shape: [2], data: new Float32Array([0.1, -0.2]) }],
  ]);
}

describe("safetensors writer", () => {
  it("round-trips f32 exactly", async () => {
    const path = join(folder, "exact.safetensors");
    const tensors = sampleTensors();
    await writeSafetensors(path, tensors, { producer: "test" });

    const file = await readSafetensors(path);
    expect(file.metadata).toEqual({ producer: "test" });
    expect([...file.tensors.keys()].sort()).toEqual([...tensors.keys()].sort());
    for (const [name, tensor] of tensors) {
      expect(file.tensors.get(name)?.shape).toEqual(tensor.shape);
      expect(file.tensors.get(name)?.data).toEqual(tensor.data);
      expect(file.tensors.get(name)?.dtype).toBe("F32");
    }
  });

  it("round-trips f16 within f16 rounding", async () => {
    const path = join(folder, "half.safetensors");
    const random = seededRandom(4);
    const values = Float32Array.from({ length: 500 }, () => random() * 1000);
    const exact = new Float32Array([0.5, -1.25, 2048, 65504, 2 ** -24, 0]);
    await writeSafetensors(path, { values: { shape: [500], data: values }, exact: { shape: [6], data: exact } }, {}, { dtype: "f16" });

    const file = await readSafetensors(path);
    expect(file.tensors.get("values")?.dtype).toBe("F16");
    const decoded = file.tensors.get("values")?.data as Float32Array;
    for (let i = 0; i < values.length; i++) {
      // Rounding to nearest keeps the error within half a unit in the last place: 2^-11 relative.
      expect(Math.abs(decoded[i] - values[i])).toBeLessThanOrEqual(Math.abs(values[i]) * 2 ** -11 + 2 ** -25);
    }
    expect(file.tensors.get("exact")?.data).toEqual(exact);
  });

  it("pads the header with spaces to 8 bytes", async () => {
    const path = join(folder, "padded.safetensors");
    await writeSafetensors(path, { a: { shape: [1], data: new Float32Array([1]) } }, { k: "v" });

    const bytes = await readFile(path);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    expect(headerLength % 8).toBe(0);
    const header = bytes.subarray(8, 8 + headerLength).toString("utf8");
    const json = header.trimEnd();
    expect(header.slice(json.length)).toMatch(/^ *$/);
    expect(JSON.parse(json)).toEqual({
      __metadata__: { k: "v" },
      a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
    });
    expect(bytes.byteLength).toBe(8 + headerLength + 4);
  });

  it("omits empty metadata", async () => {
    const path = join(folder, "bare.safetensors");
    await writeSafetensors(path, { a: { shape: [1], data: new Float32Array([1]) } });
    const bytes = await readFile(path);
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString("utf8"));
    expect(Object.keys(header)).toEqual(["a"]);
  });

  it("replaces a file and leaves no temporary", async () => {
    const path = join(folder, "replaced.safetensors");
    await writeSafetensors(path, { a: { shape: [1], data: new Float32Array([1]) } });
    await writeSafetensors(path, { b: { shape: [2], data: new Float32Array([2, 3]) } });

    const file = await readSafetensors(path);
    expect([...file.tensors.keys()]).toEqual(["b"]);
    expect((await readdir(folder)).filter((name) => name.includes("tmp"))).toEqual([]);
  });

  it("rejects data that contradicts the shape", async () => {
    const path = join(folder, "mismatch.safetensors");
    const error = await writeSafetensors(path, { a: { shape: [2, 2], data: new Float32Array(3) } }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain("[2, 2]");
    expect(await readdir(folder)).not.toContain("mismatch.safetensors");
  });

  it("rejects a tensor named __metadata__", async () => {
    const error = await writeSafetensors(join(folder, "reserved.safetensors"), {
      __metadata__: { shape: [1], data: new Float32Array(1) },
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidArgumentError);
  });
});
