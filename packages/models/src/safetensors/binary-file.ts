// Bounds-checked reads from an open model file. Every read is checked against the file size before
// anything is allocated. A header that claims more bytes than the file has therefore fails with a
// CorruptFileError naming the file and the field, not with a short read or a huge allocation.
import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { endianness } from "node:os";

import { CorruptFileError, FileNotFoundError, InvalidArgumentError } from "@elitekv/core";

/** True on little-endian hosts, where file bytes can be viewed as typed arrays without swapping. */
export const hostIsLittleEndian: boolean = endianness() === "LE";

/** Node rejects single reads above 2^31 - 1 bytes; larger ranges are read in chunks of this size. */
const maxReadChunkBytes = 1 << 30;

export interface BinaryFile {
  path: string;
  handle: FileHandle;
  /** File size in bytes. */
  size: number;
}

/**
 * Without a writer, opening a FIFO for reading blocks forever. O_NONBLOCK makes that open return at once,
 * so that the regular-file check rejects the FIFO. The flag changes nothing for regular files, and
 * Windows, which lacks it, has no such FIFOs.
 */
const openForReadingFlags = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/**
 * Opens a file for reading. A missing file raises FileNotFoundError, and a folder, FIFO or device raises
 * InvalidArgumentError, both naming the path. `hint` is the next step that the error message suggests.
 */
export async function openBinaryFile(path: string, hint?: string): Promise<BinaryFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, openForReadingFlags);
  } catch (error) {
    if (isErrnoError(error, "ENOENT") || isErrnoError(error, "ENOTDIR")) {
      throw new FileNotFoundError(path, hint);
    }
    throw error;
  }

  const stats = await handle.stat();
  if (!stats.isFile()) {
    await handle.close();
    throw new InvalidArgumentError(`not a regular file; ${hint ?? "pass the path of a model file"}`, { file: path });
  }
  return { path, handle, size: stats.size };
}

/** Closes the file, ignoring errors, so that cleanup never hides the error that caused it. */
export async function closeBinaryFile(file: BinaryFile): Promise<void> {
  try {
    await file.handle.close();
  } catch {
    // The handle is unusable either way.
  }
}

/**
 * Throws CorruptFileError unless bytes [position, position + length) lie inside the file. `field` names
 * the content of the range (a header field or a tensor).
 */
export function checkRange(file: BinaryFile, position: number, length: number, field: string): void {
  if (!Number.isSafeInteger(position) || !Number.isSafeInteger(length) || position < 0 || length < 0) {
    throw new CorruptFileError(`invalid byte range: offset ${position}, length ${length}`, {
      file: file.path,
      field,
    });
  }
  if (position + length > file.size) {
    throw new CorruptFileError(
      `needs bytes ${position} to ${position + length} but the file has only ${file.size} bytes; ` +
        "the file is truncated or its header is wrong",
      { file: file.path, field },
    );
  }
}

/** Fills `target` from the file starting at `position`, after checking the range. */
export async function readInto(file: BinaryFile, target: Uint8Array, position: number, field: string): Promise<void> {
  checkRange(file, position, target.byteLength, field);

  let done = 0;
  while (done < target.byteLength) {
    const length = Math.min(maxReadChunkBytes, target.byteLength - done);
    const { bytesRead } = await file.handle.read(target, done, length, position + done);
    if (bytesRead === 0) {
      throw new CorruptFileError(`file ended after ${position + done} bytes while reading ${field}`, {
        file: file.path,
        field,
      });
    }
    done += bytesRead;
  }
}

/** Returns `length` bytes of the file starting at `position`, after checking the range. */
export async function readBytes(file: BinaryFile, position: number, length: number, field: string): Promise<Uint8Array> {
  checkRange(file, position, length, field);
  const bytes = new Uint8Array(length);
  await readInto(file, bytes, position, field);
  return bytes;
}

/** Returns `count` little-endian float32 values starting at `position`. */
export async function readFloat32(file: BinaryFile, position: number, count: number, field: string): Promise<Float32Array> {
  checkRange(file, position, count * 4, field);
  const values = new Float32Array(count);
  await readInto(file, new Uint8Array(values.buffer), position, field);
  if (!hostIsLittleEndian) swapBytes32(values);
  return values;
}

/** Reverses the byte order of every 32-bit element in place (file data is little-endian). */
export function swapBytes32(values: Float32Array | Uint32Array): void {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  for (let i = 0; i < bytes.length; i += 4) {
    const b0 = bytes[i];
    const b1 = bytes[i + 1];
    bytes[i] = bytes[i + 3];
    bytes[i + 1] = bytes[i + 2];
    bytes[i + 2] = b1;
    bytes[i + 3] = b0;
  }
}

export function isErrnoError(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
