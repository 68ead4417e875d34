// GGUF writer: metadata of any value type plus F32, F16 or pre-encoded tensors, laid out the way
// llama.cpp lays them out (each tensor's data padded to the alignment). Files are written to a temporary
// path in the target folder and renamed, so a failed write never leaves a partial .gguf behind.
import { randomBytes } from "node:crypto";
import { open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

import { f32ToF16, InvalidArgumentError } from "@elitekv/core";
import { GGUFValueType } from "@huggingface/gguf";

import { GgmlType, ggmlTypeInfo, ggmlTypeLabel } from "./ggml-type.js";
import { ggufDefaultAlignment } from "./gguf-header.js";

type ScalarValueType = Exclude<GGUFValueType, GGUFValueType.ARRAY>;

export type GgufWriterValue =
  | { type: ScalarValueType; value: number | bigint | boolean | string }
  | { type: GGUFValueType.ARRAY; itemType: ScalarValueType; value: ReadonlyArray<number | bigint | boolean | string> };

export type GgufWriterTensor =
  | {
      name: string;
      /** Row-major shape, outermost first, like core's Tensor. The file stores it reversed. */
      shape: readonly number[];
      /** Storage type the float32 data is converted to. Defaults to F32. */
      type?: "F32" | "F16";
      data: Float32Array;
    }
  | {
      name: string;
      shape: readonly number[];
      /** ggml type id of bytes that are already encoded (for example quantized blocks). */
      type: number;
      bytes: Uint8Array;
    };

export interface GgufWriterInput {
  /** Metadata in file order. `general.alignment` is added when `alignment` is not the default. */
  metadata: ReadonlyArray<readonly [string, GgufWriterValue]>;
  tensors: readonly GgufWriterTensor[];
  /** 3 by default. Version 1 (32-bit counts, lengths and dims) exists to build fixtures for readers. */
  version?: 1 | 2 | 3;
  /** Data alignment in bytes, a power of two. Defaults to 32. */
  alignment?: number;
}

/** Byte offsets of the header fields, so tests can patch one field of a valid file. */
export interface GgufLayout {
  versionOffset: number;
  tensorCountOffset: number;
  kvCountOffset: number;
  keys: Record<string, { keyOffset: number; valueTypeOffset: number; valueOffset: number }>;
  tensors: Record<
    string,
    { nameOffset: number; dimCountOffset: number; dimsOffset: number; typeOffset: number; offsetOffset: number; dataOffset: number }
  >;
  /** Absolute offset of the data section. */
  dataOffset: number;
  fileSize: number;
}

interface PreparedTensor {
  name: string;
  dims: number[];
  type: number;
  encode: () => Uint8Array;
  byteSize: number;
  offset: number;
}

/** Encodes a whole GGUF file in memory, for fixtures and small models. */
export function encodeGguf(input: GgufWriterInput): { bytes: Uint8Array; layout: GgufLayout } {
  const { header, layout, tensors } = encodeHeader(input);
  const bytes = new Uint8Array(layout.fileSize);
  bytes.set(header, 0);
  for (const tensor of tensors) bytes.set(tensor.encode(), layout.dataOffset + tensor.offset);
  return { bytes, layout };
}

/** Writes a GGUF file through a temporary file in the same folder, then renames it to `path`. */
export async function writeGguf(path: string, input: GgufWriterInput): Promise<GgufLayout> {
  const { header, layout, tensors } = encodeHeader(input);
  const temporaryPath = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temporaryPath, "wx");
  try {
    await handle.write(header, 0, header.length, 0);
    for (const tensor of tensors) {
      const bytes = tensor.encode();
      await handle.write(bytes, 0, bytes.length, layout.dataOffset + tensor.offset);
    }
    await handle.truncate(layout.fileSize);
    await handle.close();
    await rename(temporaryPath, path);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(temporaryPath).catch(() => undefined);
    throw error;
  }
  return layout;
}

function encodeHeader(input: GgufWriterInput): { header: Uint8Array; layout: GgufLayout; tensors: PreparedTensor[] } {
  const version = input.version ?? 3;
  const alignment = input.alignment ?? ggufDefaultAlignment;
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    throw new InvalidArgumentError(`GGUF alignment must be a power of two, got ${alignment}`, { field: "alignment" });
  }

  const metadata = [...input.metadata];
  if (alignment !== ggufDefaultAlignment && !metadata.some(([key]) => key === "general.alignment")) {
    metadata.push(["general.alignment", { type: GGUFValueType.UINT32, value: alignment }]);
  }

  const writer = new ByteWriter(version);
  const layout: GgufLayout = {
    versionOffset: 4,
    tensorCountOffset: 8,
    kvCountOffset: 0,
    keys: {},
    tensors: {},
    dataOffset: 0,
    fileSize: 0,
  };

  writer.bytes(new TextEncoder().encode("GGUF"));
  writer.u32(version);
  writer.size(input.tensors.length);
  layout.kvCountOffset = writer.length;
  writer.size(metadata.length);

  for (const [key, value] of metadata) {
    const keyOffset = writer.length;
    writer.string(key);
    const valueTypeOffset = writer.length;
    writer.u32(value.type);
    layout.keys[key] = { keyOffset, valueTypeOffset, valueOffset: writer.length };
    writeValue(writer, key, value);
  }

  const tensors = input.tensors.map(prepareTensor);
  let dataCursor = 0;
  for (const tensor of tensors) {
    tensor.offset = dataCursor;
    dataCursor += Math.ceil(tensor.byteSize / alignment) * alignment;
  }

  for (const tensor of tensors) {
    const nameOffset = writer.length;
    writer.string(tensor.name);
    const dimCountOffset = writer.length;
    writer.u32(tensor.dims.length);
    const dimsOffset = writer.length;
    for (const dim of tensor.dims) writer.size(dim);
    const typeOffset = writer.length;
    writer.u32(tensor.type);
    const offsetOffset = writer.length;
    writer.u64(BigInt(tensor.offset));
    layout.tensors[tensor.name] = { nameOffset, dimCountOffset, dimsOffset, typeOffset, offsetOffset, dataOffset: 0 };
  }

  layout.dataOffset = Math.ceil(writer.length / alignment) * alignment;
  for (const tensor of tensors) layout.tensors[tensor.name].dataOffset = layout.dataOffset + tensor.offset;
  // The last tensor is padded too, as llama.cpp does, so every tensor ends on an aligned boundary.
  layout.fileSize = layout.dataOffset + dataCursor;

  const header = new Uint8Array(layout.dataOffset);
  header.set(writer.finish(), 0);
  return { header, layout, tensors };
}

function prepareTensor(tensor: GgufWriterTensor): PreparedTensor {
  for (const dim of tensor.shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new InvalidArgumentError(`tensor ${tensor.name} has an invalid dimension ${dim}`, { field: tensor.name });
    }
  }
  const dims = [...tensor.shape].reverse();
  const elements = tensor.shape.reduce((product, dim) => product * dim, 1);

  if ("data" in tensor) {
    if (tensor.data.length !== elements) {
      throw new InvalidArgumentError(
        `tensor ${tensor.name} has ${tensor.data.length} values for shape [${tensor.shape.join(", ")}]`,
        { field: tensor.name },
      );
    }
    const half = tensor.type === "F16";
    return {
      name: tensor.name,
      dims,
      type: half ? GgmlType.F16 : GgmlType.F32,
      byteSize: elements * (half ? 2 : 4),
      offset: 0,
      encode: () => (half ? encodeF16(tensor.data) : encodeF32(tensor.data)),
    };
  }

  const info = ggmlTypeInfo(tensor.type);
  const expectedBytes = info === undefined ? undefined : (elements / info.blockSize) * info.typeSize;
  if (expectedBytes === undefined || !Number.isInteger(expectedBytes) || expectedBytes !== tensor.bytes.length) {
    throw new InvalidArgumentError(
      `tensor ${tensor.name}: ${tensor.bytes.length} bytes do not encode [${tensor.shape.join(", ")}] as ${ggmlTypeLabel(tensor.type)}`,
      { field: tensor.name },
    );
  }
  return { name: tensor.name, dims, type: tensor.type, byteSize: expectedBytes, offset: 0, encode: () => tensor.bytes };
}

function encodeF32(data: Float32Array): Uint8Array {
  const bytes = new Uint8Array(data.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return bytes;
}

function encodeF16(data: Float32Array): Uint8Array {
  const bytes = new Uint8Array(data.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setUint16(i * 2, f32ToF16(data[i]), true);
  return bytes;
}

function writeValue(writer: ByteWriter, key: string, value: GgufWriterValue): void {
  if (value.type === GGUFValueType.ARRAY) {
    writer.u32(value.itemType);
    writer.size(value.value.length);
    for (const item of value.value) writeScalar(writer, key, value.itemType, item);
    return;
  }
  writeScalar(writer, key, value.type, value.value);
}

function writeScalar(writer: ByteWriter, key: string, type: GGUFValueType, value: number | bigint | boolean | string): void {
  const mismatch = () =>
    new InvalidArgumentError(`metadata ${key}: value ${String(value)} does not fit GGUF type ${GGUFValueType[type]}`, {
      field: key,
    });
  if (type === GGUFValueType.STRING) {
    if (typeof value !== "string") throw mismatch();
    writer.string(value);
    return;
  }
  if (type === GGUFValueType.BOOL) {
    if (typeof value !== "boolean") throw mismatch();
    writer.u8(value ? 1 : 0);
    return;
  }
  if (type === GGUFValueType.UINT64 || type === GGUFValueType.INT64) {
    if (typeof value !== "bigint" && typeof value !== "number") throw mismatch();
    writer.int64(type === GGUFValueType.INT64, BigInt(value));
    return;
  }
  if (typeof value !== "number") throw mismatch();
  writer.number(type, value);
}

const integerRanges = new Map<GGUFValueType, [number, number]>([
  [GGUFValueType.UINT8, [0, 0xff]],
  [GGUFValueType.INT8, [-0x80, 0x7f]],
  [GGUFValueType.UINT16, [0, 0xffff]],
  [GGUFValueType.INT16, [-0x8000, 0x7fff]],
  [GGUFValueType.UINT32, [0, 0xffffffff]],
  [GGUFValueType.INT32, [-0x80000000, 0x7fffffff]],
]);

const numericBytes = new Map<GGUFValueType, number>([
  [GGUFValueType.UINT8, 1],
  [GGUFValueType.INT8, 1],
  [GGUFValueType.UINT16, 2],
  [GGUFValueType.INT16, 2],
  [GGUFValueType.UINT32, 4],
  [GGUFValueType.INT32, 4],
  [GGUFValueType.FLOAT32, 4],
  [GGUFValueType.FLOAT64, 8],
]);

/** Growable little-endian byte buffer. `version` selects 32-bit (v1) or 64-bit sizes. */
class ByteWriter {
  private buffer = new Uint8Array(4096);
  private view = new DataView(this.buffer.buffer);
  length = 0;

  constructor(private readonly version: number) {}

  private reserve(byteCount: number): number {
    const offset = this.length;
    if (offset + byteCount > this.buffer.length) {
      const grown = new Uint8Array(Math.max(this.buffer.length * 2, offset + byteCount));
      grown.set(this.buffer.subarray(0, offset));
      this.buffer = grown;
      this.view = new DataView(grown.buffer);
    }
    this.length += byteCount;
    return offset;
  }

  /** Reserves `byteCount` bytes. The view is read after reserving because growing replaces the buffer. */
  private slot(byteCount: number): { view: DataView; offset: number } {
    const offset = this.reserve(byteCount);
    return { view: this.view, offset };
  }

  bytes(bytes: Uint8Array): void {
    const offset = this.reserve(bytes.length);
    this.buffer.set(bytes, offset);
  }

  u8(value: number): void {
    const { view, offset } = this.slot(1);
    view.setUint8(offset, value);
  }

  u32(value: number): void {
    const { view, offset } = this.slot(4);
    view.setUint32(offset, value, true);
  }

  u64(value: bigint): void {
    const { view, offset } = this.slot(8);
    view.setBigUint64(offset, value, true);
  }

  int64(signed: boolean, value: bigint): void {
    const { view, offset } = this.slot(8);
    if (signed) view.setBigInt64(offset, value, true);
    else view.setBigUint64(offset, value, true);
  }

  /** Writes a count, length or dimension: u32 in GGUF v1, u64 from v2 on. */
  size(value: number): void {
    if (this.version === 1) this.u32(value);
    else this.u64(BigInt(value));
  }

  string(value: string): void {
    const encoded = new TextEncoder().encode(value);
    this.size(encoded.length);
    this.bytes(encoded);
  }

  number(type: GGUFValueType, value: number): void {
    const range = integerRanges.get(type);
    if (range !== undefined && (!Number.isInteger(value) || value < range[0] || value > range[1])) {
      throw new InvalidArgumentError(`${value} does not fit GGUF type ${GGUFValueType[type]}`);
    }
    const size = numericBytes.get(type);
    if (size === undefined) {
      throw new InvalidArgumentError(`GGUF value type ${type} is not a numeric type`);
    }

    const { view, offset } = this.slot(size);
    if (type === GGUFValueType.UINT8) view.setUint8(offset, value);
    else if (type === GGUFValueType.INT8) view.setInt8(offset, value);
    else if (type === GGUFValueType.UINT16) view.setUint16(offset, value, true);
    else if (type === GGUFValueType.INT16) view.setInt16(offset, value, true);
    else if (type === GGUFValueType.UINT32) view.setUint32(offset, value, true);
    else if (type === GGUFValueType.INT32) view.setInt32(offset, value, true);
    else if (type === GGUFValueType.FLOAT32) view.setFloat32(offset, value, true);
    else view.setFloat64(offset, value, true);
  }

  finish(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}
