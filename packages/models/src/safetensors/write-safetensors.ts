// Writing safetensors files that the reference implementation reads: tensors in name order, ranges
// tiling the data section, the JSON header padded with spaces (0x20) to a multiple of 8 bytes. The
// file is written under a temporary name in the same folder and renamed into place, so a crash never
// leaves a half-written file under the final name.
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

import { elementCount, f32ToF16, InvalidArgumentError, type Tensor } from "@elitekv/core";

import { hostIsLittleEndian } from "./binary-file.js";

export interface SafetensorsWriteOptions {
  /** Storage dtype of every tensor. Defaults to "f32"; "f16" rounds to nearest even. */
  dtype?: "f32" | "f16";
}

// Ignored by git, so a temporary left by a killed process never shows up as a change.
const temporaryPrefix = ".elitekv-tmp-";

/** Tensors are written in batches of about this many bytes, so that memory stays bounded. */
const writeChunkBytes = 16 * 1024 * 1024;

/**
 * Writes `tensors` to `path` as safetensors with the given `__metadata__` strings. Throws
 * InvalidArgumentError for a tensor whose data length contradicts its shape, a tensor named
 * "__metadata__", or a non-string metadata value.
 */
export async function writeSafetensors(
  path: string,
  tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
  metadata: Readonly<Record<string, string>> = {},
  options: SafetensorsWriteOptions = {},
): Promise<void> {
  const dtype = options.dtype ?? "f32";
  if (dtype !== "f32" && dtype !== "f16") {
    throw new InvalidArgumentError(`dtype must be "f32" or "f16", got ${JSON.stringify(dtype)}`, { field: "dtype" });
  }
  const elementBytes = dtype === "f32" ? 4 : 2;
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  // Code-unit order, like Rust's string ordering in the reference writer, so output is deterministic.
  entries.sort(([a], [b]) => compareNames(a, b));

  const headerBytes = encodeHeader(entries, metadata, dtype === "f32" ? "F32" : "F16", elementBytes, path);
  const lengthPrefix = new Uint8Array(8);
  new DataView(lengthPrefix.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);

  const temporaryPath = join(dirname(path), `${temporaryPrefix}${process.pid}-${Date.now()}-${basename(path)}`);
  const handle = await open(temporaryPath, "w");
  try {
    await handle.write(lengthPrefix);
    await handle.write(headerBytes);
    for (const [, tensor] of entries) {
      for (let start = 0; start < tensor.data.length; start += writeChunkBytes / elementBytes) {
        const end = Math.min(tensor.data.length, start + writeChunkBytes / elementBytes);
        await handle.write(encodeValues(tensor.data.subarray(start, end), dtype));
      }
    }
    await handle.sync();
    await handle.close();
    await rename(temporaryPath, path);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temporaryPath, { force: true });
    throw error;
  }
}

function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

function encodeHeader(
  entries: ReadonlyArray<[string, Tensor]>,
  metadata: Readonly<Record<string, string>>,
  dtypeName: "F32" | "F16",
  elementBytes: number,
  path: string,
): Uint8Array {
  const header: Record<string, unknown> = {};
  const metadataEntries = Object.entries(metadata);
  for (const [key, value] of metadataEntries) {
    if (typeof value !== "string") {
      throw new InvalidArgumentError(`metadata value ${key} must be a string, got ${typeof value}`, {
        file: path,
        field: `__metadata__.${key}`,
      });
    }
  }
  if (metadataEntries.length > 0) header.__metadata__ = { ...metadata };

  let offset = 0;
  for (const [name, tensor] of entries) {
    if (name === "__metadata__") {
      throw new InvalidArgumentError("a tensor must not be named __metadata__, which is reserved for the metadata map; rename it", {
        file: path,
        field: name,
      });
    }
    const count = elementCount(tensor.shape);
    if (!tensor.shape.every((dim) => Number.isSafeInteger(dim) && dim >= 0) || count !== tensor.data.length) {
      throw new InvalidArgumentError(
        `shape [${tensor.shape.join(", ")}] does not match ${tensor.data.length} data values`,
        { file: path, field: `tensor ${name}` },
      );
    }
    const byteLength = count * elementBytes;
    header[name] = { dtype: dtypeName, shape: tensor.shape, data_offsets: [offset, offset + byteLength] };
    offset += byteLength;
  }

  const json = JSON.stringify(header);
  const encoded = new TextEncoder().encode(json);
  const padded = new Uint8Array(Math.ceil(encoded.byteLength / 8) * 8).fill(0x20);
  padded.set(encoded);
  return padded;
}

function encodeValues(values: Float32Array, dtype: "f32" | "f16"): Uint8Array {
  if (dtype === "f32") {
    const copy = new Float32Array(values);
    const bytes = new Uint8Array(copy.buffer);
    if (!hostIsLittleEndian) {
      const view = new DataView(copy.buffer);
      for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i], true);
    }
    return bytes;
  }

  const bytes = new Uint8Array(values.length * 2);
  for (let i = 0; i < values.length; i++) {
    const bits = f32ToF16(values[i]);
    bytes[2 * i] = bits & 0xff;
    bytes[2 * i + 1] = bits >> 8;
  }
  return bytes;
}
