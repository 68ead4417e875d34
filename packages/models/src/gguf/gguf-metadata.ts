// GGUF metadata values decoded by @huggingface/gguf, cross-checked against our own header walk, with
// typed accessors that reject a key whose stored type differs from the one the reader expects.
import { open } from "node:fs/promises";

import { CorruptFileError } from "@elitekv/core";
import { gguf, GGUFValueType, type MetadataValue } from "@huggingface/gguf";

import { ggufValueTypeName, type GgufHeader, type GgufKeyInfo } from "./gguf-header.js";

export interface GgufMetadataEntry {
  type: GGUFValueType;
  /** Element type of an array. */
  itemType?: GGUFValueType;
  value: MetadataValue;
}

const integerTypes = new Set<GGUFValueType>([
  GGUFValueType.UINT8,
  GGUFValueType.INT8,
  GGUFValueType.UINT16,
  GGUFValueType.INT16,
  GGUFValueType.UINT32,
  GGUFValueType.INT32,
  GGUFValueType.UINT64,
  GGUFValueType.INT64,
]);

/** Keys @huggingface/gguf adds for the fixed header fields, which are not metadata entries. */
const headerFields = new Set(["version", "tensor_count", "kv_count"]);

export class GgufMetadata {
  constructor(
    readonly path: string,
    private readonly entries: ReadonlyMap<string, GgufMetadataEntry>,
  ) {}

  has(key: string): boolean {
    return this.entries.has(key);
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  entry(key: string): GgufMetadataEntry | undefined {
    return this.entries.get(key);
  }

  string(key: string): string | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.expectType(key, entry, [GGUFValueType.STRING], "a STRING");
    return entry.value as string;
  }

  /** Returns an integer stored with any integer type, as a safe non-negative Number. */
  integer(key: string): number | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.expectType(key, entry, [...integerTypes], "an integer");
    const value = typeof entry.value === "bigint" ? entry.value : BigInt(entry.value as number);
    if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new CorruptFileError(`${key} is ${value}, outside 0..2^53`, { file: this.path, field: key });
    }
    return Number(value);
  }

  /** Returns a number stored as FLOAT32, FLOAT64 or an integer type. */
  number(key: string): number | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (integerTypes.has(entry.type)) return Number(entry.value);
    this.expectType(key, entry, [GGUFValueType.FLOAT32, GGUFValueType.FLOAT64], "a number");
    return entry.value as number;
  }

  bool(key: string): boolean | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.expectType(key, entry, [GGUFValueType.BOOL], "a BOOL");
    return entry.value as boolean;
  }

  /** Returns an ARRAY of STRING. */
  stringArray(key: string): string[] | undefined {
    return this.typedArray(key, GGUFValueType.STRING) as string[] | undefined;
  }

  /**
   * Returns an ARRAY whose element type is exactly `itemType`, optionally with exactly `expected.length`
   * elements (`expected.source` names what fixes that count). Any other element type or count is a
   * CorruptFileError naming the key.
   */
  typedArray(
    key: string,
    itemType: GGUFValueType,
    expected?: { length: number; source: string },
  ): MetadataValue[] | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    const details = { file: this.path, field: key };
    if (entry.type !== GGUFValueType.ARRAY) {
      throw new CorruptFileError(
        `must be an ARRAY of ${ggufValueTypeName(itemType)}, found ${ggufValueTypeName(entry.type)}`,
        details,
      );
    }
    if (entry.itemType !== itemType) {
      throw new CorruptFileError(
        `must be an ARRAY of ${ggufValueTypeName(itemType)}, found an ARRAY of ${ggufValueTypeName(entry.itemType ?? -1)}; ` +
          "the converter that wrote this file is broken",
        details,
      );
    }
    const values = entry.value as MetadataValue[];
    if (expected !== undefined && values.length !== expected.length) {
      throw new CorruptFileError(
        `has ${values.length} elements but ${expected.source} has ${expected.length}; they must match`,
        details,
      );
    }
    return values;
  }

  private expectType(key: string, entry: GgufMetadataEntry, types: GGUFValueType[], label: string): void {
    if (!types.includes(entry.type)) {
      throw new CorruptFileError(`must be ${label}, found ${ggufValueTypeName(entry.type)}`, {
        file: this.path,
        field: key,
      });
    }
  }
}

/**
 * Decodes the metadata of a file whose header `readGgufHeader` already validated, through
 * @huggingface/gguf, and checks that the library saw the same keys, types and tensors.
 */
export async function readGgufMetadata(header: GgufHeader): Promise<GgufMetadata> {
  const path = header.path;
  let parsed;
  try {
    parsed = await gguf(path, { allowLocalFile: true, typedMetadata: true });
  } catch (error) {
    throw new CorruptFileError(`@huggingface/gguf could not parse the metadata: ${(error as Error).message}`, {
      file: path,
      field: "metadata",
      cause: error,
    });
  }

  const entries = new Map<string, GgufMetadataEntry>();
  const typedMetadata = parsed.typedMetadata as Record<
    string,
    { type: GGUFValueType; subType?: GGUFValueType; value: MetadataValue }
  >;
  for (const [key, typed] of Object.entries(typedMetadata)) {
    if (headerFields.has(key)) continue;
    entries.set(key, { type: typed.type, itemType: typed.subType, value: typed.value });
  }

  await repairStrings(header, entries);
  checkAgreement(header, entries, parsed.tensorInfos, parsed.tensorDataOffset);
  return new GgufMetadata(path, entries);
}

/**
 * Decodes again, from the file bytes, every string value that @huggingface/gguf 0.4.6 returned with a
 * different UTF-8 length. Its TextDecoder drops a leading U+FEFF (the Llama 2 vocabulary has that token)
 * and replaces invalid UTF-8. Its string reads also use ArrayBuffer.slice, which clamps at the end of the
 * bytes fetched so far (2 MB chunks) instead of failing. Invalid UTF-8 is a CorruptFileError naming the key.
 */
async function repairStrings(header: GgufHeader, entries: Map<string, GgufMetadataEntry>): Promise<void> {
  const damaged = [...header.keys.values()].filter((layout) => {
    const entry = entries.get(layout.key);
    return layout.stringBytes !== undefined && entry !== undefined && utf8Bytes(entry.value) !== layout.stringBytes;
  });
  if (damaged.length === 0) return;

  const handle = await open(header.path, "r");
  try {
    for (const layout of damaged) {
      const entry = entries.get(layout.key)!;
      entries.set(layout.key, { ...entry, value: await readStringValue(handle, header.path, layout) });
    }
  } finally {
    await handle.close();
  }
}

async function readStringValue(
  handle: Awaited<ReturnType<typeof open>>,
  path: string,
  layout: GgufKeyInfo,
): Promise<string | string[]> {
  const [start, end] = layout.valueRange!;
  const bytes = new Uint8Array(end - start);
  const { bytesRead } = await handle.read(bytes, 0, bytes.length, start);
  if (bytesRead !== bytes.length) {
    throw new CorruptFileError(`read ${bytesRead} of ${bytes.length} bytes; the file changed while loading`, {
      file: path,
      field: layout.key,
    });
  }
  const view = new DataView(bytes.buffer);
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

  let offset = 0;
  const next = (): string => {
    const length = Number(view.getBigUint64(offset, true));
    const text = bytes.subarray(offset + 8, offset + 8 + length);
    offset += 8 + length;
    try {
      return decoder.decode(text);
    } catch {
      throw new CorruptFileError("contains a string that is not valid UTF-8", { file: path, field: layout.key });
    }
  };

  if (layout.valueType === GGUFValueType.STRING) return next();
  offset = 12; // element type (u32) and count (u64) precede the elements
  return Array.from({ length: layout.itemCount ?? 0 }, next);
}

function utf8Bytes(value: MetadataValue): number {
  if (typeof value === "string") return Buffer.byteLength(value, "utf8");
  if (!Array.isArray(value)) return -1;
  let total = 0;
  for (const item of value) total += typeof item === "string" ? Buffer.byteLength(item, "utf8") : 0;
  return total;
}

interface LibraryTensorInfo {
  name: string;
  shape: bigint[];
  dtype: number;
  offset: bigint;
}

/** Any disagreement means one of the two readers misparsed the file, so neither result can be trusted. */
function checkAgreement(
  header: GgufHeader,
  entries: ReadonlyMap<string, GgufMetadataEntry>,
  tensorInfos: readonly LibraryTensorInfo[],
  tensorDataOffset: bigint,
): void {
  const disagreement = (subject: string) =>
    new CorruptFileError(`@huggingface/gguf and the header check disagree on ${subject}; the file is malformed`, {
      file: header.path,
      field: "metadata",
    });

  if (entries.size !== header.keys.size) throw disagreement("the number of metadata keys");
  for (const [key, layout] of header.keys) {
    const entry = entries.get(key);
    if (entry === undefined || entry.type !== layout.valueType) throw disagreement(`key ${key}`);
    if (layout.valueType === GGUFValueType.ARRAY) {
      const values = entry.value as MetadataValue[];
      if (entry.itemType !== layout.itemType || values.length !== layout.itemCount) {
        throw disagreement(`the array ${key}`);
      }
    }
    // After repairStrings, every decoded string must re-encode to exactly the bytes the file holds.
    if (layout.stringBytes !== undefined && utf8Bytes(entry.value) !== layout.stringBytes) {
      throw disagreement(`the string bytes of ${key} (is it valid UTF-8?)`);
    }
  }

  if (tensorInfos.length !== header.tensors.length) throw disagreement("the number of tensors");
  for (let index = 0; index < tensorInfos.length; index++) {
    const theirs = tensorInfos[index];
    const ours = header.tensors[index];
    const sameShape =
      theirs.shape.length === ours.dims.length && theirs.shape.every((dim, axis) => Number(dim) === ours.dims[axis]);
    if (theirs.name !== ours.name || !sameShape || theirs.dtype !== ours.type || Number(theirs.offset) !== ours.offset) {
      throw disagreement(`tensor ${ours.name}`);
    }
  }

  if (header.tensors.length > 0 && Number(tensorDataOffset) !== header.dataOffset) {
    throw disagreement("the data section offset");
  }
}
