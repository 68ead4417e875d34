// Test fixtures for the fetch tests: a zip writer independent of the reader under test, and fake pip
// executables.
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deflateRawSync } from "node:zlib";

export interface ZipEntrySpec {
  name: string;
  data: Uint8Array;
  /** 0 = stored, 8 = deflate. */
  method: number;
  flags?: number;
}

export interface BuiltZip {
  bytes: Buffer;
  /** Per entry: offsets of its local header, its data and its central header. */
  entries: Array<{ localHeaderOffset: number; dataOffset: number; dataLength: number; centralHeaderOffset: number }>;
  centralDirectoryOffset: number;
  endRecordOffset: number;
}

/** Bitwise CRC-32, a deliberately different form from the table-driven one under test. */
export function referenceCrc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Writes a zip archive. With `zip64`, the central directory and end records use the zip64 forms. */
export function buildZip(entries: ZipEntrySpec[], options: { zip64?: boolean; comment?: string } = {}): BuiltZip {
  const zip64 = options.zip64 === true;
  const parts: Buffer[] = [];
  const layout: BuiltZip["entries"] = [];
  const centralParts: Buffer[] = [];
  let offset = 0;

  for (const entry of entries) {
    const name = Buffer.from(entry.name, "utf8");
    const payload = entry.method === 8 ? deflateRawSync(entry.data) : Buffer.from(entry.data);
    const crc = referenceCrc32(entry.data);
    const flags = (entry.flags ?? 0) | 0x0800;

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(zip64 ? 45 : 20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(entry.method, 8);
    local.writeUInt16LE(0x21, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(payload.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const localHeaderOffset = offset;
    parts.push(local, name, payload);
    offset += local.length + name.length + payload.length;

    const extra = Buffer.alloc(zip64 ? 28 : 0);
    if (zip64) {
      extra.writeUInt16LE(0x0001, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(entry.data.length), 4);
      extra.writeBigUInt64LE(BigInt(payload.length), 12);
      extra.writeBigUInt64LE(BigInt(localHeaderOffset), 20);
    }
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x031e, 4);
    central.writeUInt16LE(zip64 ? 45 : 20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(entry.method, 10);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(zip64 ? 0xffffffff : payload.length, 20);
    central.writeUInt32LE(zip64 ? 0xffffffff : entry.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(extra.length, 30);
    central.writeUInt32LE(zip64 ? 0xffffffff : localHeaderOffset, 42);
    centralParts.push(Buffer.concat([central, name, extra]));
    layout.push({
      localHeaderOffset,
      dataOffset: localHeaderOffset + 30 + name.length,
      dataLength: payload.length,
      centralHeaderOffset: 0,
    });
  }

  const centralDirectoryOffset = offset;
  let centralCursor = centralDirectoryOffset;
  centralParts.forEach((part, i) => {
    layout[i].centralHeaderOffset = centralCursor;
    centralCursor += part.length;
  });
  const centralDirectory = Buffer.concat(centralParts);
  parts.push(centralDirectory);
  offset += centralDirectory.length;

  if (zip64) {
    const zip64EndOffset = offset;
    const record = Buffer.alloc(56);
    record.writeUInt32LE(0x06064b50, 0);
    record.writeBigUInt64LE(44n, 4);
    record.writeUInt16LE(45, 12);
    record.writeUInt16LE(45, 14);
    record.writeBigUInt64LE(BigInt(entries.length), 24);
    record.writeBigUInt64LE(BigInt(entries.length), 32);
    record.writeBigUInt64LE(BigInt(centralDirectory.length), 40);
    record.writeBigUInt64LE(BigInt(centralDirectoryOffset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(zip64EndOffset), 8);
    locator.writeUInt32LE(1, 16);
    parts.push(record, locator);
    offset += record.length + locator.length;
  }

  const comment = Buffer.from(options.comment ?? "", "utf8");
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(zip64 ? 0xffff : entries.length, 8);
  end.writeUInt16LE(zip64 ? 0xffff : entries.length, 10);
  end.writeUInt32LE(zip64 ? 0xffffffff : centralDirectory.length, 12);
  end.writeUInt32LE(zip64 ? 0xffffffff : centralDirectoryOffset, 16);
  end.writeUInt16LE(comment.length, 20);
  parts.push(end, comment);

  return { bytes: Buffer.concat(parts), entries: layout, centralDirectoryOffset, endRecordOffset: offset };
}

/**
 * Writes an executable shell script at `dir/name` that replaces pip. Each run appends its
 * arguments to `logPath`, then runs `body` with $dest set to the folder after -d.
 */
export function writeFakePip(dir: string, name: string, logPath: string, body: string): string {
  const path = join(dir, name);
  const script = [
    "#!/bin/sh",
    "PATH=/usr/bin:/bin",
    `echo "$@" >> '${logPath}'`,
    'dest=""',
    'while [ $# -gt 0 ]; do if [ "$1" = "-d" ]; then dest="$2"; fi; shift; done',
    body,
    "",
  ].join("\n");
  writeFileSync(path, script);
  chmodSync(path, 0o755);
  return path;
}
