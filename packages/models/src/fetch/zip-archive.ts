// A small zip reader for Python wheels: the central directory (with zip64 records) and streaming
// extraction of stored and deflate entries. Every offset and size read from the file is checked against
// the file before anything is read or allocated, and extraction checks the declared size and CRC-32.
// It is written here on Node's zlib rather than taken from npm because wheels need only these two
// methods, and a reader this small can be audited for the bounds checks above.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { open, rm, type FileHandle } from "node:fs/promises";
import { Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createInflateRaw } from "node:zlib";

import {
  CorruptFileError,
  UnknownFormatError,
  UnsupportedVersionError,
  type ProgressListener,
} from "@elitekv/core";

import { crc32 } from "./crc32.js";

export interface ZipEntry {
  /** Path inside the archive, with "/" separators. */
  name: string;
  /** 0 = stored, 8 = deflate; other methods are rejected at extraction. */
  compressionMethod: number;
  /** General-purpose flags; bit 0 marks an encrypted entry. */
  flags: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

export interface ZipDirectory {
  file: string;
  entries: ZipEntry[];
  /** Byte offset of the central directory; entry data must end before it. */
  centralDirectoryOffset: number;
}

export interface ExtractedEntry {
  bytes: number;
  /** Lowercase hex SHA-256 of the extracted bytes. */
  sha256: string;
}

const endOfCentralDirectorySignature = 0x06054b50;
const zip64LocatorSignature = 0x07064b50;
const zip64EndSignature = 0x06064b50;
const centralHeaderSignature = 0x02014b50;
const localHeaderSignature = 0x04034b50;
const endOfCentralDirectoryBytes = 22;
const zip64LocatorBytes = 20;
const zip64EndBytes = 56;
const centralHeaderBytes = 46;
const localHeaderBytes = 30;
const maxCommentBytes = 0xffff;
const zip64ExtraId = 0x0001;
const progressStepBytes = 8 * 1024 * 1024;

/** Reads the central directory of the zip archive at `file`. */
export async function readZipDirectory(file: string): Promise<ZipDirectory> {
  const handle = await open(file, "r");
  try {
    const fileSize = (await handle.stat()).size;
    const end = await readEndOfCentralDirectory(handle, file, fileSize);

    const { offset, size, entryCount } = end;
    if (offset + size > end.recordOffset) {
      throw new CorruptFileError(
        `central directory (offset ${offset}, ${size} bytes) overlaps its end record at offset ${end.recordOffset}`,
        { file, field: "central directory offset" },
      );
    }
    if (entryCount * centralHeaderBytes > size) {
      throw new CorruptFileError(
        `${entryCount} entries cannot fit in a central directory of ${size} bytes (${centralHeaderBytes} bytes each at least)`,
        { file, field: "entry count" },
      );
    }

    const directory = await readExactly(handle, offset, size, file);
    const entries = parseCentralDirectory(directory, entryCount, file, offset);
    return { file, entries, centralDirectoryOffset: offset };
  } finally {
    await handle.close();
  }
}

/** Returns the entry named `name`; throws CorruptFileError when the name occurs twice. */
export function findZipEntry(directory: ZipDirectory, name: string): ZipEntry | undefined {
  const matches = directory.entries.filter((entry) => entry.name === name);
  if (matches.length > 1) {
    throw new CorruptFileError(`entry ${name} occurs ${matches.length} times; the archive is ambiguous`, {
      file: directory.file,
      field: "entry name",
    });
  }
  return matches[0];
}

/**
 * Extracts one entry to `outputPath` and returns its size and SHA-256. The output is written in place,
 * so callers pass a temporary path and rename it afterwards. On any failure the partial output is
 * deleted. Throws CorruptFileError when the data is truncated, inflates to more or fewer bytes than
 * declared, or fails its CRC-32, and UnsupportedVersionError for encryption or other compression methods.
 */
export async function extractZipEntry(
  directory: ZipDirectory,
  entry: ZipEntry,
  outputPath: string,
  options: { onProgress?: ProgressListener; progressTask?: string; signal?: AbortSignal } = {},
): Promise<ExtractedEntry> {
  const file = directory.file;
  checkExtractable(entry, file);
  const dataOffset = await readLocalDataOffset(directory, entry);

  const verifier = new EntryVerifier(entry, file, options);
  const stages: Array<NodeJS.ReadableStream | NodeJS.ReadWriteStream | NodeJS.WritableStream> = [];
  stages.push(entryDataStream(file, dataOffset, entry.compressedSize));
  if (entry.compressionMethod === 8) stages.push(createInflateRaw());
  stages.push(verifier);
  stages.push(createWriteStream(outputPath));

  try {
    await pipeline(stages, { signal: options.signal });
    verifier.checkComplete();
  } catch (error) {
    await rm(outputPath, { force: true });
    if (!isZlibError(error)) throw error;
    throw new CorruptFileError(`entry ${entry.name} has invalid deflate data (${error.message}); download the archive again`, {
      file,
      field: entry.name,
      cause: error,
    });
  }

  return { bytes: verifier.bytes, sha256: verifier.sha256() };
}

interface EndOfCentralDirectory {
  /** Offset of the first end record, classic or zip64: the central directory must end before it. */
  recordOffset: number;
  offset: number;
  size: number;
  entryCount: number;
}

async function readEndOfCentralDirectory(
  handle: FileHandle,
  file: string,
  fileSize: number,
): Promise<EndOfCentralDirectory> {
  if (fileSize < endOfCentralDirectoryBytes) {
    throw await notAZip(handle, file, fileSize, `the file has only ${fileSize} bytes`);
  }

  // The end record sits in the last 22 bytes plus a comment of up to 65535 bytes; scan that tail backwards.
  const tailSize = Math.min(fileSize, endOfCentralDirectoryBytes + maxCommentBytes);
  const tailStart = fileSize - tailSize;
  const tail = await readExactly(handle, tailStart, tailSize, file);
  let recordIndex = -1;
  for (let i = tailSize - endOfCentralDirectoryBytes; i >= 0; i--) {
    if (tail.readUInt32LE(i) !== endOfCentralDirectorySignature) continue;
    const commentLength = tail.readUInt16LE(i + 20);
    if (i + endOfCentralDirectoryBytes + commentLength <= tailSize) {
      recordIndex = i;
      break;
    }
  }
  if (recordIndex < 0) {
    throw await notAZip(handle, file, fileSize, "no end-of-central-directory record was found");
  }

  const record = tail.subarray(recordIndex);
  const recordOffset = tailStart + recordIndex;
  const diskNumber = record.readUInt16LE(4);
  const centralDirectoryDisk = record.readUInt16LE(6);
  const entriesOnDisk = record.readUInt16LE(8);
  const entryCount = record.readUInt16LE(10);
  const size = record.readUInt32LE(12);
  const offset = record.readUInt32LE(16);

  const usesZip64 = entryCount === 0xffff || size === 0xffffffff || offset === 0xffffffff;
  if (usesZip64) return readZip64End(handle, file, fileSize, recordOffset);

  if (diskNumber !== 0 || centralDirectoryDisk !== 0 || entriesOnDisk !== entryCount) {
    throw new UnsupportedVersionError("spanned (multi-disk) zip archives are not supported", {
      file,
      field: "disk number",
    });
  }
  checkRange(offset, size, recordOffset, file, "central directory offset");
  return { recordOffset, offset, size, entryCount };
}

async function readZip64End(
  handle: FileHandle,
  file: string,
  fileSize: number,
  classicRecordOffset: number,
): Promise<EndOfCentralDirectory> {
  const locatorOffset = classicRecordOffset - zip64LocatorBytes;
  if (locatorOffset < 0) {
    throw new CorruptFileError("the end record asks for zip64 but there is no room for a zip64 locator", {
      file,
      field: "zip64 locator",
    });
  }
  const locator = await readExactly(handle, locatorOffset, zip64LocatorBytes, file);
  if (locator.readUInt32LE(0) !== zip64LocatorSignature) {
    throw new CorruptFileError("the end record asks for zip64 but the zip64 locator signature is missing", {
      file,
      field: "zip64 locator",
    });
  }
  const recordOffset = toSafeNumber(locator.readBigUInt64LE(8), file, "zip64 end record offset");
  checkRange(recordOffset, zip64EndBytes, locatorOffset, file, "zip64 end record offset");

  const record = await readExactly(handle, recordOffset, zip64EndBytes, file);
  if (record.readUInt32LE(0) !== zip64EndSignature) {
    throw new CorruptFileError(`no zip64 end record signature at offset ${recordOffset}`, {
      file,
      field: "zip64 end record offset",
    });
  }
  const diskNumber = record.readUInt32LE(16);
  const centralDirectoryDisk = record.readUInt32LE(20);
  const entriesOnDisk = record.readBigUInt64LE(24);
  const entryCountBig = record.readBigUInt64LE(32);
  if (diskNumber !== 0 || centralDirectoryDisk !== 0 || entriesOnDisk !== entryCountBig) {
    throw new UnsupportedVersionError("spanned (multi-disk) zip archives are not supported", {
      file,
      field: "disk number",
    });
  }

  const entryCount = toSafeNumber(entryCountBig, file, "entry count");
  const size = toSafeNumber(record.readBigUInt64LE(40), file, "central directory size");
  const offset = toSafeNumber(record.readBigUInt64LE(48), file, "central directory offset");
  checkRange(offset, size, Math.min(recordOffset, fileSize), file, "central directory offset");
  return { recordOffset, offset, size, entryCount };
}

function parseCentralDirectory(directory: Buffer, entryCount: number, file: string, baseOffset: number): ZipEntry[] {
  const entries: ZipEntry[] = [];
  let cursor = 0;

  for (let index = 0; index < entryCount; index++) {
    const field = `central directory entry ${index}`;
    if (cursor + centralHeaderBytes > directory.length) {
      throw new CorruptFileError(`entry ${index} of ${entryCount} runs past the end of the central directory`, {
        file,
        field,
      });
    }
    if (directory.readUInt32LE(cursor) !== centralHeaderSignature) {
      throw new CorruptFileError(`no central header signature at offset ${baseOffset + cursor}`, { file, field });
    }

    const nameLength = directory.readUInt16LE(cursor + 28);
    const extraLength = directory.readUInt16LE(cursor + 30);
    const commentLength = directory.readUInt16LE(cursor + 32);
    const headerEnd = cursor + centralHeaderBytes + nameLength + extraLength + commentLength;
    if (headerEnd > directory.length) {
      throw new CorruptFileError(`the name, extra field or comment of entry ${index} runs past the central directory`, {
        file,
        field,
      });
    }

    const nameStart = cursor + centralHeaderBytes;
    // Names without the UTF-8 flag (bit 11) are CP437 in the zip specification. They are decoded as
    // UTF-8 here, which gives the same result for ASCII names such as wheel paths.
    const name = directory.toString("utf8", nameStart, nameStart + nameLength);
    const extra = directory.subarray(nameStart + nameLength, nameStart + nameLength + extraLength);
    const sizes = applyZip64Extra(
      {
        uncompressedSize: directory.readUInt32LE(cursor + 24),
        compressedSize: directory.readUInt32LE(cursor + 20),
        localHeaderOffset: directory.readUInt32LE(cursor + 42),
      },
      extra,
      file,
      name,
    );

    entries.push({
      name,
      compressionMethod: directory.readUInt16LE(cursor + 10),
      flags: directory.readUInt16LE(cursor + 8),
      crc32: directory.readUInt32LE(cursor + 16),
      ...sizes,
    });
    cursor = headerEnd;
  }

  return entries;
}

interface EntrySizes {
  uncompressedSize: number;
  compressedSize: number;
  localHeaderOffset: number;
}

// A zip64 extra field contains 8-byte values, in this order, only for the fields whose 4-byte value is
// 0xFFFFFFFF.
function applyZip64Extra(sizes: EntrySizes, extra: Buffer, file: string, name: string): EntrySizes {
  const order: Array<keyof EntrySizes> = ["uncompressedSize", "compressedSize", "localHeaderOffset"];
  const missing = order.filter((key) => sizes[key] === 0xffffffff);
  if (missing.length === 0) return sizes;

  let cursor = 0;
  while (cursor + 4 <= extra.length) {
    const id = extra.readUInt16LE(cursor);
    const length = extra.readUInt16LE(cursor + 2);
    const dataStart = cursor + 4;
    if (dataStart + length > extra.length) break;

    if (id === zip64ExtraId) {
      if (length < missing.length * 8) break;
      const result = { ...sizes };
      missing.forEach((key, i) => {
        result[key] = toSafeNumber(extra.readBigUInt64LE(dataStart + i * 8), file, `${name} zip64 ${key}`);
      });
      return result;
    }
    cursor = dataStart + length;
  }

  throw new CorruptFileError(`entry ${name} needs a zip64 extra field with ${missing.join(", ")}, but it is missing or short`, {
    file,
    field: name,
  });
}

function checkExtractable(entry: ZipEntry, file: string): void {
  if ((entry.flags & 1) !== 0) {
    throw new UnsupportedVersionError(`entry ${entry.name} is encrypted; encrypted zip entries are not supported`, {
      file,
      field: entry.name,
    });
  }
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    throw new UnsupportedVersionError(
      `entry ${entry.name} uses compression method ${entry.compressionMethod}; only stored (0) and deflate (8) are supported`,
      { file, field: entry.name },
    );
  }
  if (entry.compressionMethod === 0 && entry.compressedSize !== entry.uncompressedSize) {
    throw new CorruptFileError(
      `stored entry ${entry.name} declares ${entry.compressedSize} compressed but ${entry.uncompressedSize} uncompressed bytes`,
      { file, field: entry.name },
    );
  }
}

// The local header repeats the name and has its own extra field, so the data offset comes from it
// rather than from the central directory.
async function readLocalDataOffset(directory: ZipDirectory, entry: ZipEntry): Promise<number> {
  const file = directory.file;
  const limit = directory.centralDirectoryOffset;
  checkRange(entry.localHeaderOffset, localHeaderBytes, limit, file, `${entry.name} local header offset`);

  const handle = await open(file, "r");
  try {
    const header = await readExactly(handle, entry.localHeaderOffset, localHeaderBytes, file);
    if (header.readUInt32LE(0) !== localHeaderSignature) {
      throw new CorruptFileError(`no local header signature at offset ${entry.localHeaderOffset}`, {
        file,
        field: `${entry.name} local header offset`,
      });
    }

    const nameLength = header.readUInt16LE(26);
    const extraLength = header.readUInt16LE(28);
    const nameOffset = entry.localHeaderOffset + localHeaderBytes;
    checkRange(nameOffset, nameLength, limit, file, `${entry.name} local header`);
    const localName = (await readExactly(handle, nameOffset, nameLength, file)).toString("utf8");
    if (localName !== entry.name) {
      throw new CorruptFileError(`local header names ${localName}, but the central directory names ${entry.name}`, {
        file,
        field: `${entry.name} local header`,
      });
    }

    const dataOffset = nameOffset + nameLength + extraLength;
    checkRange(dataOffset, entry.compressedSize, limit, file, `${entry.name} compressed size`);
    return dataOffset;
  } finally {
    await handle.close();
  }
}

function entryDataStream(file: string, offset: number, length: number): NodeJS.ReadableStream {
  // createReadStream's `end` is inclusive, and start > end would read to the end of the file.
  if (length === 0) return Readable.from([]);
  return createReadStream(file, { start: offset, end: offset + length - 1 });
}

/** Counts, hashes and CRC-checks the extracted bytes, failing as soon as they exceed the declared size. */
class EntryVerifier extends Transform {
  bytes = 0;
  private crc = 0;
  private readonly hash = createHash("sha256");
  private nextProgress = progressStepBytes;

  constructor(
    private readonly entry: ZipEntry,
    private readonly file: string,
    private readonly options: { onProgress?: ProgressListener; progressTask?: string },
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.entry.uncompressedSize) {
      callback(this.sizeError(`more than the declared ${this.entry.uncompressedSize} bytes`));
      return;
    }

    this.crc = crc32(chunk, this.crc);
    this.hash.update(chunk);
    if (this.bytes >= this.nextProgress) {
      this.nextProgress += progressStepBytes;
      this.reportProgress();
    }
    callback(null, chunk);
  }

  checkComplete(): void {
    if (this.bytes !== this.entry.uncompressedSize) {
      throw this.sizeError(`${this.bytes} bytes, but ${this.entry.uncompressedSize} were declared`);
    }
    if (this.crc !== this.entry.crc32) {
      throw new CorruptFileError(
        `entry ${this.entry.name} has CRC-32 ${hex32(this.crc)}, but ${hex32(this.entry.crc32)} was declared`,
        { file: this.file, field: this.entry.name },
      );
    }
    this.reportProgress();
  }

  sha256(): string {
    return this.hash.digest("hex");
  }

  private reportProgress(): void {
    this.options.onProgress?.({
      type: "advance",
      task: this.options.progressTask ?? "extract",
      current: this.bytes,
      total: this.entry.uncompressedSize,
      unit: "byte",
    });
  }

  private sizeError(detail: string): CorruptFileError {
    return new CorruptFileError(`entry ${this.entry.name} extracts to ${detail}`, {
      file: this.file,
      field: this.entry.name,
    });
  }
}

async function notAZip(handle: FileHandle, file: string, fileSize: number, reason: string): Promise<Error> {
  // A local header signature at the start means a zip that lost its end; anything else is another format.
  const head = await readExactly(handle, 0, Math.min(4, fileSize), file);
  if (head.length === 4 && head.readUInt32LE(0) === localHeaderSignature) {
    return new CorruptFileError(`${reason}; the zip archive is truncated, download it again`, {
      file,
      field: "end of central directory",
    });
  }
  return new UnknownFormatError(file, `not a zip archive: ${reason}`);
}

// Callers check the range against the file size first, so a short read means the file shrank meanwhile.
async function readExactly(handle: FileHandle, offset: number, length: number, file: string): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, offset + filled);
    if (bytesRead === 0) {
      throw new CorruptFileError(`read ${filled} of ${length} bytes at offset ${offset}; the file ended early`, {
        file,
      });
    }
    filled += bytesRead;
  }
  return buffer;
}

// zlib reports bad input with codes such as Z_DATA_ERROR and Z_BUF_ERROR (truncated stream).
function isZlibError(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === "string" && code.startsWith("Z_");
}

function checkRange(offset: number, length: number, limit: number, file: string, field: string): void {
  if (offset < 0 || length < 0 || offset + length > limit) {
    throw new CorruptFileError(`range ${offset} .. ${offset + length} lies outside the ${limit} bytes it must fit in`, {
      file,
      field,
    });
  }
}

function toSafeNumber(value: bigint, file: string, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CorruptFileError(`value ${value} is larger than any file this reader supports (2^53 - 1 bytes)`, {
      file,
      field,
    });
  }
  return Number(value);
}

function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, "0")}`;
}
