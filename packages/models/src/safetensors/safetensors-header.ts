// The safetensors header: an 8-byte little-endian length, then a JSON object mapping tensor names to
// {dtype, shape, data_offsets} plus an optional "__metadata__" map of strings. Validation follows the
// reference implementation (huggingface/safetensors). The header is at most 100,000,000 bytes, and
// every size must equal product(shape) × dtype size. The sorted byte ranges must tile the data section
// exactly, so that no byte has two owners (aliasing) or none (holes, trailing bytes).
import { CorruptFileError, UnsupportedTensorTypeError } from "@elitekv/core";

/** The reference implementation rejects longer headers; so do we, before allocating anything. */
export const maxSafetensorsHeaderBytes = 100_000_000;

/** Bytes per element of every dtype the reference defines; only F32, F16 and BF16 can be decoded. */
const dtypeSizes: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

export type SafetensorsDtype = "F32" | "F16" | "BF16";

export const supportedSafetensorsDtypes: readonly SafetensorsDtype[] = ["F32", "F16", "BF16"];

export interface SafetensorsTensorInfo {
  name: string;
  /** The dtype string as stored, e.g. "F32"; may be a dtype that cannot be decoded. */
  dtype: string;
  shape: number[];
  /** [begin, end) relative to the start of the data section. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  /** Tensors sorted by data offset. */
  tensors: SafetensorsTensorInfo[];
  /** Bytes the tensors cover; equals the data section length. */
  dataLength: number;
}

export function isSupportedSafetensorsDtype(dtype: string): dtype is SafetensorsDtype {
  return (supportedSafetensorsDtypes as readonly string[]).includes(dtype);
}

/**
 * Decodes the 8-byte header length and checks it against the cap and the file size before anything of
 * that size is read. Returns the length in bytes.
 */
export function parseSafetensorsHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (prefix.byteLength < 8 || fileSize < 8) {
    throw new CorruptFileError(`file has ${fileSize} bytes, too short for the 8-byte safetensors header length`, {
      file,
      field: "header length",
    });
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const length = view.getBigUint64(0, true);
  if (length > BigInt(maxSafetensorsHeaderBytes)) {
    throw new CorruptFileError(
      `header length ${length} exceeds the safetensors limit of ${maxSafetensorsHeaderBytes} bytes; ` +
        "the file is not a safetensors file or is damaged",
      { file, field: "header length" },
    );
  }
  const headerLength = Number(length);
  if (8 + headerLength > fileSize) {
    throw new CorruptFileError(
      `header length ${headerLength} runs past the end of the file (${fileSize} bytes); the file is truncated`,
      { file, field: "header length" },
    );
  }
  return headerLength;
}

/**
 * Parses and validates the JSON header. `dataLength` is the number of bytes after the header; the
 * tensors must cover exactly that many.
 *
 * Whitespace: JSON whitespace (space, tab, CR, LF) before and after the object is accepted, as the
 * reference's serde_json parser accepts it; NUL padding and any other bytes are rejected.
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, dataLength: number, file: string): SafetensorsHeader {
  const json = decodeHeaderText(headerBytes, file);
  if (json.includes("\u0000")) {
    throw new CorruptFileError(
      "header contains NUL bytes; safetensors headers are padded with spaces (0x20), not zeros",
      { file, field: "header" },
    );
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new CorruptFileError(`header is not valid JSON (${(error as Error).message})`, { file, field: "header" });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new CorruptFileError("header must be a JSON object", { file, field: "header" });
  }

  let metadata: Record<string, string> = {};
  const tensors: SafetensorsTensorInfo[] = [];
  for (const [name, entry] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = parseMetadata(entry, file);
    } else {
      tensors.push(parseTensorInfo(name, entry, file));
    }
  }

  tensors.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  checkTiling(tensors, dataLength, file);
  return { metadata, tensors, dataLength };
}

function decodeHeaderText(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new CorruptFileError("header is not valid UTF-8", { file, field: "header" });
  }
}

function parseMetadata(entry: unknown, file: string): Record<string, string> {
  const field = "__metadata__";
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new CorruptFileError("__metadata__ must be an object of string values", { file, field });
  }
  const record = entry as Record<string, unknown>;
  if ("dtype" in record && "data_offsets" in record) {
    throw new CorruptFileError(
      "a tensor is named __metadata__, but that key is reserved for the metadata map; rename the tensor",
      { file, field },
    );
  }

  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) {
    if (typeof value !== "string") {
      throw new CorruptFileError(
        `metadata value ${key} is ${JSON.stringify(value)}, but safetensors metadata values must be strings`,
        { file, field: `__metadata__.${key}` },
      );
    }
    metadata[key] = value;
  }
  return metadata;
}

function parseTensorInfo(name: string, entry: unknown, file: string): SafetensorsTensorInfo {
  const field = `tensor ${name}`;
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new CorruptFileError("entry must be an object with dtype, shape and data_offsets", { file, field });
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;

  if (typeof dtype !== "string") {
    throw new CorruptFileError(`dtype must be a string, got ${JSON.stringify(dtype)}`, { file, field });
  }
  if (!(dtype in dtypeSizes)) {
    throw new UnsupportedTensorTypeError(
      `unknown dtype ${JSON.stringify(dtype)}; supported dtypes are ${supportedSafetensorsDtypes.join(", ")}`,
      { file, field },
    );
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeSafeInteger)) {
    throw new CorruptFileError(`shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`, {
      file,
      field,
    });
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeSafeInteger)) {
    throw new CorruptFileError(
      `data_offsets must be [begin, end] with non-negative integers below 2^53, got ${JSON.stringify(offsets)}`,
      { file, field },
    );
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) {
    throw new CorruptFileError(`data_offsets end ${end} is before begin ${begin}`, { file, field });
  }

  // Exact in BigInt: a shape like [2^42 + 1, 2^42] must not wrap or round to a plausible size.
  const expectedBytes = (shape as number[]).reduce((product, dim) => product * BigInt(dim), BigInt(dtypeSizes[dtype]));
  if (BigInt(end - begin) !== expectedBytes) {
    throw new CorruptFileError(
      `data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} shape [${(shape as number[]).join(", ")}] ` +
        `needs ${expectedBytes} bytes`,
      { file, field },
    );
  }
  return { name, dtype, shape: [...(shape as number[])], dataOffsets: [begin, end] };
}

/** Checks that the ranges, sorted by offset, cover [0, dataLength) with no overlap and no gap. */
function checkTiling(tensors: readonly SafetensorsTensorInfo[], dataLength: number, file: string): void {
  let covered = 0;
  let previous = "the start of the data section";
  for (const tensor of tensors) {
    const [begin, end] = tensor.dataOffsets;
    const field = `tensor ${tensor.name}`;
    if (begin < covered) {
      throw new CorruptFileError(
        `data_offsets [${begin}, ${end}] overlap the bytes of ${previous} (which end at ${covered}); ` +
          "every data byte must belong to exactly one tensor",
        { file, field },
      );
    }
    if (begin > covered) {
      throw new CorruptFileError(
        `data_offsets begin at ${begin}, leaving bytes ${covered} to ${begin} after ${previous} unused; ` +
          "tensor ranges must cover the data section without holes",
        { file, field },
      );
    }
    covered = end;
    previous = `tensor ${tensor.name}`;
  }

  if (covered > dataLength) {
    throw new CorruptFileError(
      `the tensors need ${covered} data bytes but the file has only ${dataLength} after the header; ` +
        "the file is truncated, download it again",
      { file, field: "data_offsets" },
    );
  }
  if (covered < dataLength) {
    throw new CorruptFileError(
      `the file has ${dataLength - covered} trailing bytes after the last tensor, which no tensor covers; ` +
        "the file is damaged or has data appended, download it again",
      { file, field: "data_offsets" },
    );
  }
}

function isNonNegativeSafeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
