// GGUF-06: every supported ggml type dequantizes two blocks exactly like gguf-py's reference
// dequantizer (goldens recorded into fixtures/gguf/dequantize-golden.json).
import { readFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";

import { UnsupportedTensorTypeError } from "@elitekv/core";
import { afterAll, describe, expect, it } from "vitest";

import {
  dequantizeGgml,
  ggmlTypeByName,
  GgmlType,
  readGgufHeader,
  readGgufTensor,
  writeGguf,
} from "../src/gguf/index.js";
import { temporaryFolder } from "./fixtures/gguf/tiny-llama.js";

interface GoldenCase {
  type: string;
  typeId: number;
  elements: number;
  bytesHex: string;
  values: number[];
}

const golden = JSON.parse(
  readFileSync(new URL("./fixtures/gguf/dequantize-golden.json", import.meta.url), "utf8"),
) as { cases: GoldenCase[] };

const scratch = temporaryFolder();
afterAll(() => scratch.remove());

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
}

/** Indexes where `actual` differs from the golden float32 values (NaN never appears in the goldens). */
function mismatches(actual: Float32Array, expected: number[]): number[] {
  const wrong: number[] = [];
  expected.forEach((value, index) => {
    if (actual[index] !== Math.fround(value)) wrong.push(index);
  });
  return wrong;
}

describe("GGUF-06 dequantization goldens", () => {
  it("covers every quant type the loader supports", () => {
    const covered = golden.cases.map((entry) => entry.type).sort();
    const supported = Object.keys(GgmlType).filter((name) => name !== "F32").sort();
    expect(covered).toEqual(supported);
  });

  it.each(golden.cases.map((entry) => [entry.type, entry] as const))("%s matches gguf-py", (type, entry) => {
    const info = ggmlTypeByName(type);
    expect(info?.id).toBe(entry.typeId);

    const output = dequantizeGgml(hexBytes(entry.bytesHex), entry.typeId, entry.elements, { tensor: type });

    expect(output.length).toBe(entry.values.length);
    expect(mismatches(output, entry.values)).toEqual([]);
  });

  it("reads the same values through a written GGUF file", async () => {
    const path = join(scratch.folder, "quants.gguf");
    const tensors = golden.cases.map((entry) => {
      const blockSize = ggmlTypeByName(entry.type)?.blockSize ?? 1;
      return {
        name: `case.${entry.type}`,
        shape: [entry.elements / blockSize, blockSize],
        type: entry.typeId,
        bytes: hexBytes(entry.bytesHex),
      };
    });
    await writeGguf(path, { metadata: [], tensors });
    const header = await readGgufHeader(path);
    const handle = await open(path, "r");
    try {
      for (const entry of golden.cases) {
        const tensor = header.tensors.find((candidate) => candidate.name === `case.${entry.type}`);
        expect(tensor, entry.type).toBeDefined();
        const values = await readGgufTensor(handle, header, tensor!);
        expect(mismatches(values, entry.values), entry.type).toEqual([]);
      }
    } finally {
      await handle.close();
    }
  });
});

describe("dequantizeGgml errors", () => {
  it("rejects a known type without a dequantizer, naming tensor and type", () => {
    const iq4nl = ggmlTypeByName("IQ4_NL");
    expect(iq4nl).toBeDefined();
    let error: unknown;
    try {
      dequantizeGgml(new Uint8Array(18), iq4nl!.id, 32, { file: "model.gguf", tensor: "blk.0.ffn_gate.weight" });
    } catch (caught) {
      error = caught;
    }

    expect(error).toBeInstanceOf(UnsupportedTensorTypeError);
    expect((error as UnsupportedTensorTypeError).field).toBe("blk.0.ffn_gate.weight");
    expect((error as Error).message).toContain("IQ4_NL");
  });

  it("rejects a byte count that does not match the element count", () => {
    expect(() => dequantizeGgml(new Uint8Array(35), GgmlType.Q8_0, 32, { tensor: "t" })).toThrow(RangeError);
    expect(() => dequantizeGgml(new Uint8Array(34), GgmlType.Q8_0, 48, { tensor: "t" })).toThrow(RangeError);
  });
});
