// Sequential little-endian reads over an open file that never go past its end: every read states what
// it is for, so a truncated or lying header fails with a CorruptFileError naming the field.
import type { FileHandle } from "node:fs/promises";

import { CorruptFileError } from "@elitekv/core";

/** Bytes read from disk at a time while walking a header. */
const chunkBytes = 1 << 20;

export class FileCursor {
  /** Absolute offset of the next byte to read. */
  position = 0;

  private buffer = new Uint8Array(0);
  private view = new DataView(this.buffer.buffer);
  private bufferStart = 0;

  constructor(
    private readonly handle: FileHandle,
    readonly fileSize: number,
    readonly path: string,
  ) {}

  /** Bytes between the cursor and the end of the file. */
  get remaining(): number {
    return this.fileSize - this.position;
  }

  /**
   * Makes [position, position + byteCount) readable. Throws CorruptFileError naming `field` when the
   * file ends first, before any buffer of that size is allocated.
   */
  async require(byteCount: number, field: string): Promise<void> {
    if (!Number.isSafeInteger(byteCount) || byteCount < 0 || byteCount > this.remaining) {
      throw new CorruptFileError(
        `the file ends at byte ${this.fileSize} but ${field} needs ${byteCount} bytes from byte ${this.position}; ` +
          "the file is truncated or corrupt, download or convert it again",
        { file: this.path, field },
      );
    }

    const end = this.position + byteCount;
    if (this.position >= this.bufferStart && end <= this.bufferStart + this.buffer.length) return;

    const length = Math.min(Math.max(byteCount, chunkBytes), this.fileSize - this.position);
    const buffer = new Uint8Array(length);
    const { bytesRead } = await this.handle.read(buffer, 0, length, this.position);
    if (bytesRead < byteCount) {
      throw new CorruptFileError(
        `reading ${field} at byte ${this.position} returned ${bytesRead} of ${byteCount} bytes; the file changed or is unreadable`,
        { file: this.path, field },
      );
    }
    this.buffer = buffer.subarray(0, bytesRead);
    this.view = new DataView(buffer.buffer, 0, bytesRead);
    this.bufferStart = this.position;
  }

  /** Moves past `byteCount` bytes after checking that they exist. */
  skip(byteCount: number, field: string): void {
    if (!Number.isSafeInteger(byteCount) || byteCount < 0 || byteCount > this.remaining) {
      throw new CorruptFileError(
        `the file ends at byte ${this.fileSize} but ${field} claims ${byteCount} bytes from byte ${this.position}; ` +
          "the file is truncated or corrupt, download or convert it again",
        { file: this.path, field },
      );
    }
    this.position += byteCount;
  }

  // The readers below assume a preceding require() covered their bytes.

  u32(): number {
    const value = this.view.getUint32(this.position - this.bufferStart, true);
    this.position += 4;
    return value;
  }

  u64(): bigint {
    const value = this.view.getBigUint64(this.position - this.bufferStart, true);
    this.position += 8;
    return value;
  }

  bytes(byteCount: number): Uint8Array {
    const start = this.position - this.bufferStart;
    this.position += byteCount;
    return this.buffer.subarray(start, start + byteCount);
  }
}
