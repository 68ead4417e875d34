// Bounds-checked walk over a GGUF header: magic, version, counts, metadata layout and tensor infos.
// It runs before @huggingface/gguf parses the file, so hostile counts, sizes and offsets fail with a
// typed error before anything proportional to them is allocated or looped over.
import { open, stat } from "node:fs/promises";

import {
  CorruptFileError,
  FileNotFoundError,
  UnknownFormatError,
  UnsupportedTensorTypeError,
  UnsupportedVersionError,
} from "@elitekv/core";
import { GGUFValueType } from "@huggingface/gguf";

import { FileCursor } from "./file-cursor.js";
import { ggmlTypeInfo, ggmlTypeLabel } from "./ggml-type.js";

export const ggufMagic = "GGUF";
export const ggufDefaultAlignment = 32;

/** Maximum tensor name length in bytes (ggml itself stops at 63). */
const maxTensorNameBytes = 256;
/** Maximum metadata key length in bytes. */
const maxKeyBytes = 65_536;
/** Bytes of the smallest possible tensor info in v2/v3: name length, one byte of name, n_dims, one dim, type, offset. */
const minTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;
/** Bytes of the smallest possible key/value pair: key length, one byte of key, value type, a one-byte value. */
const minKeyValueBytes = 8 + 1 + 4 + 1;
const maxDims = 4;

export interface GgufKeyInfo {
  key: string;
  valueType: GGUFValueType;
  /** Element type when valueType is ARRAY. */
  itemType?: GGUFValueType;
  /** Element count when valueType is ARRAY. */
  itemCount?: number;
  /** Total bytes of the string, or of all strings of an ARRAY of STRING. */
  stringBytes?: number;
  /** Absolute byte range of the value (after the value type), for strings and string arrays. */
  valueRange?: [number, number];
}

export interface GgufTensorInfo {
  name: string;
  /** Dimensions as stored, innermost first: dims[0] is the row length (ggml ne[0]). */
  dims: number[];
  /** ggml type id. */
  type: number;
  /** Byte offset from the start of the data section. */
  offset: number;
  byteSize: number;
  elementCount: number;
}

export interface GgufHeader {
  path: string;
  fileSize: number;
  version: 2 | 3;
  alignment: number;
  /** Metadata layout in file order. */
  keys: Map<string, GgufKeyInfo>;
  tensors: GgufTensorInfo[];
  /** Absolute offset of the data section (end of the tensor infos, rounded up to the alignment). */
  dataOffset: number;
  /** Bytes from the data section start to the end of the file (0 when the file ends before it). */
  dataSize: number;
}

const scalarBytes = new Map<GGUFValueType, number>([
  [GGUFValueType.UINT8, 1],
  [GGUFValueType.INT8, 1],
  [GGUFValueType.UINT16, 2],
  [GGUFValueType.INT16, 2],
  [GGUFValueType.UINT32, 4],
  [GGUFValueType.INT32, 4],
  [GGUFValueType.FLOAT32, 4],
  [GGUFValueType.BOOL, 1],
  [GGUFValueType.UINT64, 8],
  [GGUFValueType.INT64, 8],
  [GGUFValueType.FLOAT64, 8],
]);

export function ggufValueTypeName(type: number): string {
  return GGUFValueType[type] ?? `type ${type}`;
}

/**
 * Reads and validates the header of the GGUF file at `path`. Throws FileNotFoundError, UnknownFormatError
 * (no GGUF magic), UnsupportedVersionError (v1, big-endian, unknown versions), UnsupportedTensorTypeError
 * (unknown ggml type ids) or CorruptFileError (anything inconsistent with the file size).
 */
export async function readGgufHeader(path: string): Promise<GgufHeader> {
  const fileSize = await regularFileSize(path);
  const handle = await open(path, "r");
  try {
    const cursor = new FileCursor(handle, fileSize, path);
    return await readHeader(cursor);
  } finally {
    await handle.close();
  }
}

async function regularFileSize(path: string): Promise<number> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new FileNotFoundError(path);
    throw error;
  }
  if (!info.isFile()) {
    throw new UnknownFormatError(path, "is not a regular file; pass the path of a .gguf file");
  }
  return info.size;
}

async function readHeader(cursor: FileCursor): Promise<GgufHeader> {
  const path = cursor.path;

  if (cursor.fileSize < 4) {
    throw new UnknownFormatError(path, `has ${cursor.fileSize} bytes, too few for the GGUF magic`);
  }
  await cursor.require(4, "magic");
  const magic = new TextDecoder("latin1").decode(cursor.bytes(4));
  if (magic !== ggufMagic) {
    throw new UnknownFormatError(path, `does not start with the GGUF magic (found ${JSON.stringify(magic)})`);
  }

  await cursor.require(4, "version");
  const version = checkVersion(cursor.u32(), path);

  await cursor.require(16, "tensor_count and kv_count");
  const tensorCount = checkCount(cursor.u64(), "tensor_count", minTensorInfoBytes, cursor);
  const kvCount = checkCount(cursor.u64(), "kv_count", minKeyValueBytes, cursor);

  const keys = new Map<string, GgufKeyInfo>();
  let alignment = ggufDefaultAlignment;
  for (let index = 0; index < kvCount; index++) {
    const info = await readKeyValue(cursor, index, keys);
    keys.set(info.key, info.layout);
    if (info.alignment !== undefined) alignment = info.alignment;
  }

  const tensors: GgufTensorInfo[] = [];
  const tensorNames = new Set<string>();
  for (let index = 0; index < tensorCount; index++) {
    const tensor = await readTensorInfo(cursor, index, tensorNames);
    tensorNames.add(tensor.name);
    tensors.push(tensor);
  }

  const dataOffset = Math.ceil(cursor.position / alignment) * alignment;
  const dataSize = Math.max(0, cursor.fileSize - dataOffset);
  checkTensorRanges(tensors, alignment, dataOffset, dataSize, path);

  return { path, fileSize: cursor.fileSize, version, alignment, keys, tensors, dataOffset, dataSize };
}

function checkVersion(version: number, path: string): 2 | 3 {
  if (version === 2 || version === 3) return version;

  const details = { file: path, field: "version" };
  if (version === 1) {
    throw new UnsupportedVersionError(
      "GGUF version 1 is not supported (it used 32-bit counts and lengths); convert the model again with a current llama.cpp to get GGUF v3",
      details,
    );
  }
  const swapped = ((version & 0xff) << 24) | ((version & 0xff00) << 8) | ((version >>> 8) & 0xff00) | (version >>> 24);
  if (swapped === 2 || swapped === 3) {
    throw new UnsupportedVersionError(
      `big-endian GGUF (version ${swapped}) is not supported; convert the model to a little-endian GGUF`,
      details,
    );
  }
  throw new UnsupportedVersionError(
    `GGUF version ${version} is not supported; this loader reads GGUF versions 2 and 3`,
    details,
  );
}

/** Rejects a count that could not fit in the rest of the file even at the smallest entry size. */
function checkCount(value: bigint, field: string, minEntryBytes: number, cursor: FileCursor): number {
  const maxCount = BigInt(Math.floor(cursor.remaining / minEntryBytes));
  if (value > maxCount) {
    throw new CorruptFileError(
      `${field} is ${value}, but the ${cursor.remaining} bytes after it hold at most ${maxCount} entries ` +
        `of at least ${minEntryBytes} bytes; the header is corrupt`,
      { file: cursor.path, field },
    );
  }
  return Number(value);
}

async function readString(cursor: FileCursor, field: string, maxBytes: number): Promise<string> {
  await cursor.require(8, `${field} length`);
  const length = cursor.u64();
  if (length > BigInt(maxBytes)) {
    throw new CorruptFileError(`${field} is ${length} bytes long, more than the ${maxBytes} allowed`, {
      file: cursor.path,
      field,
    });
  }
  await cursor.require(Number(length), field);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(cursor.bytes(Number(length)));
  } catch {
    throw new CorruptFileError(`${field} is not valid UTF-8`, { file: cursor.path, field });
  }
}

/** Moves past a string value, checking only that its bytes exist, and returns its length in bytes. */
async function skipString(cursor: FileCursor, field: string): Promise<number> {
  await cursor.require(8, `${field} length`);
  const length = cursor.u64();
  if (length > BigInt(cursor.remaining)) {
    throw new CorruptFileError(
      `${field} claims ${length} bytes but only ${cursor.remaining} remain in the file; the file is truncated or corrupt`,
      { file: cursor.path, field },
    );
  }
  cursor.skip(Number(length), field);
  return Number(length);
}

interface KeyValueResult {
  key: string;
  layout: GgufKeyInfo;
  alignment?: number;
}

async function readKeyValue(cursor: FileCursor, index: number, seen: Map<string, GgufKeyInfo>): Promise<KeyValueResult> {
  const key = await readString(cursor, `metadata key ${index}`, maxKeyBytes);
  if (key.length === 0) {
    throw new CorruptFileError(`metadata key ${index} is an empty string; every key needs a name`, {
      file: cursor.path,
      field: `metadata key ${index}`,
    });
  }
  if (seen.has(key)) {
    throw new CorruptFileError(`metadata key ${key} appears twice`, { file: cursor.path, field: key });
  }

  await cursor.require(4, `${key} value type`);
  const valueType = cursor.u32();

  if (key === "general.alignment") {
    return { key, layout: { key, valueType }, alignment: await readAlignment(cursor, valueType) };
  }

  const valueStart = cursor.position;
  if (valueType === GGUFValueType.STRING) {
    const stringBytes = await skipString(cursor, key);
    return { key, layout: { key, valueType, stringBytes, valueRange: [valueStart, cursor.position] } };
  }

  if (valueType === GGUFValueType.ARRAY) {
    const layout = await skipArray(cursor, key);
    if (layout.stringBytes !== undefined) layout.valueRange = [valueStart, cursor.position];
    return { key, layout };
  }

  const size = scalarBytes.get(valueType);
  if (size === undefined) {
    throw new CorruptFileError(`metadata value type ${valueType} is not a GGUF value type`, {
      file: cursor.path,
      field: key,
    });
  }
  cursor.skip(size, key);
  return { key, layout: { key, valueType } };
}

async function readAlignment(cursor: FileCursor, valueType: number): Promise<number> {
  const field = "general.alignment";
  if (valueType !== GGUFValueType.UINT32) {
    throw new CorruptFileError(`${field} must be a UINT32, found ${ggufValueTypeName(valueType)}`, {
      file: cursor.path,
      field,
    });
  }
  await cursor.require(4, field);
  const alignment = cursor.u32();
  if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
    throw new CorruptFileError(`${field} must be a power of two, found ${alignment}`, { file: cursor.path, field });
  }
  return alignment;
}

async function skipArray(cursor: FileCursor, key: string): Promise<GgufKeyInfo> {
  await cursor.require(12, `${key} array header`);
  const itemType = cursor.u32();
  const count = cursor.u64();

  if (itemType === GGUFValueType.ARRAY) {
    throw new CorruptFileError("nested arrays are not supported in GGUF metadata", { file: cursor.path, field: key });
  }
  const itemBytes = itemType === GGUFValueType.STRING ? 8 : scalarBytes.get(itemType);
  if (itemBytes === undefined) {
    throw new CorruptFileError(`array element type ${itemType} is not a GGUF value type`, {
      file: cursor.path,
      field: key,
    });
  }
  if (count * BigInt(itemBytes) > BigInt(cursor.remaining)) {
    throw new CorruptFileError(
      `array claims ${count} ${ggufValueTypeName(itemType)} elements but only ${cursor.remaining} bytes remain; ` +
        "the file is truncated or corrupt",
      { file: cursor.path, field: key },
    );
  }

  const itemCount = Number(count);
  if (itemType !== GGUFValueType.STRING) {
    cursor.skip(itemCount * itemBytes, key);
    return { key, valueType: GGUFValueType.ARRAY, itemType, itemCount };
  }

  let stringBytes = 0;
  for (let index = 0; index < itemCount; index++) {
    stringBytes += await skipString(cursor, `${key}[${index}]`);
  }
  return { key, valueType: GGUFValueType.ARRAY, itemType, itemCount, stringBytes };
}

async function readTensorInfo(cursor: FileCursor, index: number, seen: Set<string>): Promise<GgufTensorInfo> {
  const path = cursor.path;
  const name = await readString(cursor, `tensor ${index} name`, maxTensorNameBytes);
  if (name.length === 0) {
    throw new CorruptFileError(`tensor ${index} has an empty name`, { file: path, field: `tensor ${index} name` });
  }
  if (seen.has(name)) {
    throw new CorruptFileError(`tensor name ${name} appears twice`, { file: path, field: name });
  }

  await cursor.require(4, `${name} n_dims`);
  const dimCount = cursor.u32();
  if (dimCount < 1 || dimCount > maxDims) {
    throw new CorruptFileError(`tensor ${name} has n_dims ${dimCount}, outside 1..${maxDims}`, {
      file: path,
      field: name,
    });
  }

  await cursor.require(dimCount * 8 + 4 + 8, `${name} dims, type and offset`);
  const dims: number[] = [];
  let elements = 1n;
  for (let axis = 0; axis < dimCount; axis++) {
    const dim = cursor.u64();
    elements *= dim;
    if (dim > BigInt(Number.MAX_SAFE_INTEGER) || elements > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new CorruptFileError(
        `tensor ${name} dimension ${axis} is ${dim}, which puts its element count beyond 2^53; the header is corrupt`,
        { file: path, field: name },
      );
    }
    dims.push(Number(dim));
  }

  const type = cursor.u32();
  const typeInfo = ggmlTypeInfo(type);
  if (typeInfo === undefined) {
    throw new UnsupportedTensorTypeError(
      `tensor ${name} has ggml type id ${type}, which ggml does not define; the file is corrupt or needs a newer loader`,
      { file: path, field: name },
    );
  }
  if (dims[0] % typeInfo.blockSize !== 0) {
    throw new CorruptFileError(
      `tensor ${name} has rows of ${dims[0]} elements, not a multiple of the ${typeInfo.name} block size ${typeInfo.blockSize}`,
      { file: path, field: name },
    );
  }

  const offset = cursor.u64();
  const byteSize = (elements / BigInt(typeInfo.blockSize)) * BigInt(typeInfo.typeSize);
  if (offset > BigInt(Number.MAX_SAFE_INTEGER) || byteSize > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CorruptFileError(`tensor ${name} claims offset ${offset} and ${byteSize} bytes, beyond 2^53`, {
      file: path,
      field: name,
    });
  }

  return {
    name,
    dims,
    type,
    offset: Number(offset),
    byteSize: Number(byteSize),
    elementCount: Number(elements),
  };
}

/**
 * Checks that every tensor is aligned, lies inside the data section and overlaps no other tensor.
 * Zero-element tensors are legal here because they own no bytes. Loaders decide whether a model may use one.
 */
function checkTensorRanges(
  tensors: readonly GgufTensorInfo[],
  alignment: number,
  dataOffset: number,
  dataSize: number,
  path: string,
): void {
  for (const tensor of tensors) {
    const details = { file: path, field: tensor.name };
    if (tensor.offset % alignment !== 0) {
      throw new CorruptFileError(
        `tensor ${tensor.name} starts at data offset ${tensor.offset}, not a multiple of the alignment ${alignment}`,
        details,
      );
    }
    const end = tensor.offset + tensor.byteSize;
    if (end > dataSize) {
      throw new CorruptFileError(
        `tensor ${tensor.name} (${ggmlTypeLabel(tensor.type)} [${tensor.dims.join(", ")}]) needs data bytes ` +
          `${tensor.offset}..${end}, but the data section starting at byte ${dataOffset} holds only ${dataSize} bytes; ` +
          "the file is truncated or its header is corrupt, download or convert it again",
        details,
      );
    }
  }

  const sorted = tensors.filter((tensor) => tensor.byteSize > 0).sort((a, b) => a.offset - b.offset);
  for (let index = 1; index < sorted.length; index++) {
    const previous = sorted[index - 1];
    const current = sorted[index];
    if (current.offset < previous.offset + previous.byteSize) {
      throw new CorruptFileError(
        `tensor ${current.name} starts at data offset ${current.offset}, inside tensor ${previous.name} ` +
          `(bytes ${previous.offset}..${previous.offset + previous.byteSize}); tensors must not overlap`,
        { file: path, field: current.name },
      );
    }
  }
}
