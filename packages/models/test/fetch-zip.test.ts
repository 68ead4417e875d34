import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { CorruptFileError, UnknownFormatError, UnsupportedVersionError } from "@elitekv/core";
import { afterAll, describe, expect, it } from "vitest";

import { crc32, extractZipEntry, findZipEntry, readZipDirectory, type ZipDirectory } from "../src/index.js";
import { buildZip, referenceCrc32, type ZipEntrySpec } from "./fetch-helpers.js";

const workDir = mkdtempSync(join(tmpdir(), "elitekv-zip-test-"));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

let fileCounter = 0;
function writeArchive(bytes: Uint8Array): string {
  const path = join(workDir, `archive-${fileCounter++}.zip`);
  writeFileSync(path, bytes);
  return path;
}

function outputPath(): string {
  return join(workDir, `output-${fileCounter++}.bin`);
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

// Compressible text plus random bytes, so deflate produces several blocks of both kinds.
const textPayload = Buffer.from("the key and value cache of every layer\n".repeat(4000));
const randomPayload = randomBytes(70_000);
const sampleEntries: ZipEntrySpec[] = [
  { name: "pkg/__init__.py", data: Buffer.from("VERSION = '1.0'\n"), method: 0 },
  { name: "pkg/model.gguf", data: Buffer.concat([textPayload, randomPayload]), method: 8 },
  { name: "pkg/empty.txt", data: new Uint8Array(0), method: 8 },
  { name: "pkg/stored.bin", data: randomPayload, method: 0 },
];

async function extractToBuffer(directory: ZipDirectory, name: string): Promise<Buffer> {
  const entry = findZipEntry(directory, name);
  if (entry === undefined) throw new Error(`test archive lacks ${name}`);
  const path = outputPath();
  const result = await extractZipEntry(directory, entry, path);
  const bytes = readFileSync(path);
  expect(result.bytes).toBe(bytes.length);
  expect(result.sha256).toBe(sha256(bytes));
  return bytes;
}

describe("crc32", () => {
  it("matches the standard check value", () => {
    expect(crc32(Buffer.from("123456789"))).toBe(0xcbf43926);
  });

  it("continues across chunks", () => {
    const whole = crc32(randomPayload);

    const chunked = crc32(randomPayload.subarray(1000), crc32(randomPayload.subarray(0, 1000)));

    expect(chunked).toBe(whole);
    expect(whole).toBe(referenceCrc32(randomPayload));
  });
});

describe("readZipDirectory and extractZipEntry", () => {
  it("lists the entries", async () => {
    const built = buildZip(sampleEntries);

    const directory = await readZipDirectory(writeArchive(built.bytes));

    expect(directory.entries.map((entry) => entry.name)).toEqual(sampleEntries.map((entry) => entry.name));
    expect(directory.entries.map((entry) => entry.compressionMethod)).toEqual([0, 8, 8, 0]);
    expect(directory.entries[1].uncompressedSize).toBe(sampleEntries[1].data.length);
    expect(directory.entries[1].compressedSize).toBe(built.entries[1].dataLength);
    expect(directory.entries[1].crc32).toBe(referenceCrc32(sampleEntries[1].data));
    expect(directory.centralDirectoryOffset).toBe(built.centralDirectoryOffset);
  });

  it("extracts deflate, stored and empty entries", async () => {
    const directory = await readZipDirectory(writeArchive(buildZip(sampleEntries).bytes));

    for (const spec of sampleEntries) {
      const bytes = await extractToBuffer(directory, spec.name);
      expect(bytes.equals(Buffer.from(spec.data)), spec.name).toBe(true);
    }
  });

  it("reads zip64 records", async () => {
    const directory = await readZipDirectory(writeArchive(buildZip(sampleEntries, { zip64: true }).bytes));

    expect(directory.entries.map((entry) => entry.uncompressedSize)).toEqual(sampleEntries.map((e) => e.data.length));
    const bytes = await extractToBuffer(directory, "pkg/model.gguf");
    expect(bytes.equals(Buffer.from(sampleEntries[1].data))).toBe(true);
  });

  it("finds the end record behind a comment", async () => {
    const directory = await readZipDirectory(writeArchive(buildZip(sampleEntries, { comment: "PK\x05\x06 not a record" }).bytes));

    expect(directory.entries).toHaveLength(4);
    expect(await extractToBuffer(directory, "pkg/__init__.py")).toEqual(Buffer.from("VERSION = '1.0'\n"));
  });

  it("returns undefined for a missing name", async () => {
    const directory = await readZipDirectory(writeArchive(buildZip(sampleEntries).bytes));

    expect(findZipEntry(directory, "pkg/missing")).toBeUndefined();
  });
});

const python = findPython();

function findPython(): string | undefined {
  try {
    execFileSync("python3", ["-c", "import zipfile"], { stdio: "ignore" });
    return "python3";
  } catch {
    return undefined;
  }
}

// Python's zipfile writes data descriptors (flag bit 3, zero sizes in the local header) when its output
// cannot seek, which is how some wheel builders write.
describe.skipIf(python === undefined)("archives from Python zipfile", () => {
  it("extracts seekable and streamed archives", async () => {
    const sourcePath = join(workDir, "python-source.bin");
    writeFileSync(sourcePath, Buffer.concat([textPayload, randomPayload]));
    const script = [
      "import sys, zipfile",
      "source = open(sys.argv[1], 'rb').read()",
      "with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED) as z:",
      "    z.writestr('pkg/model.gguf', source)",
      "with open(sys.argv[3], 'wb') as raw:",
      "    class Unseekable:",
      "        def write(self, b): return raw.write(b)",
      "        def flush(self): raw.flush()",
      "    with zipfile.ZipFile(Unseekable(), 'w', zipfile.ZIP_DEFLATED) as z:",
      "        z.writestr('pkg/model.gguf', source)",
    ].join("\n");
    const seekablePath = join(workDir, "python-seekable.zip");
    const streamedPath = join(workDir, "python-streamed.zip");
    execFileSync(python as string, ["-c", script, sourcePath, seekablePath, streamedPath]);

    for (const archive of [seekablePath, streamedPath]) {
      const directory = await readZipDirectory(archive);
      const bytes = await extractToBuffer(directory, "pkg/model.gguf");
      expect(bytes.equals(readFileSync(sourcePath)), archive).toBe(true);
    }
    const streamed = await readZipDirectory(streamedPath);
    expect(streamed.entries[0].flags & 0x8).toBe(0x8);
  });
});

describe("corrupt archives", () => {
  const built = buildZip(sampleEntries);

  it("rejects a file that is not a zip", async () => {
    const path = writeArchive(Buffer.from("GGUF this is not a zip archive at all, just text"));

    await expect(readZipDirectory(path)).rejects.toBeInstanceOf(UnknownFormatError);
    await expect(readZipDirectory(writeArchive(Buffer.from("tiny")))).rejects.toBeInstanceOf(UnknownFormatError);
  });

  it("rejects a truncated archive", async () => {
    const path = writeArchive(built.bytes.subarray(0, built.centralDirectoryOffset + 10));

    await expect(readZipDirectory(path)).rejects.toBeInstanceOf(CorruptFileError);
    await expect(readZipDirectory(path)).rejects.toThrow(/truncated/);
  });

  it("rejects a central directory past the end", async () => {
    const bytes = Buffer.from(built.bytes);
    bytes.writeUInt32LE(0x7fff0000, built.endRecordOffset + 16);

    await expect(readZipDirectory(writeArchive(bytes))).rejects.toThrow(CorruptFileError);
    await expect(readZipDirectory(writeArchive(bytes))).rejects.toThrow(/central directory offset/);
  });

  it("rejects an entry count the directory cannot hold", async () => {
    const bytes = Buffer.from(built.bytes);
    bytes.writeUInt16LE(60_000, built.endRecordOffset + 8);
    bytes.writeUInt16LE(60_000, built.endRecordOffset + 10);

    await expect(readZipDirectory(writeArchive(bytes))).rejects.toThrow(/60000 entries cannot fit/);
  });

  it("rejects a zip64 size above 2^53", async () => {
    const zip64 = buildZip(sampleEntries, { zip64: true });
    const bytes = Buffer.from(zip64.bytes);
    // The zip64 extra field of entry 0 starts after its 46-byte header and 15-byte name; skip id and length.
    bytes.writeBigUInt64LE(2n ** 60n, zip64.entries[0].centralHeaderOffset + 46 + 15 + 4);

    await expect(readZipDirectory(writeArchive(bytes))).rejects.toThrow(CorruptFileError);
    await expect(readZipDirectory(writeArchive(bytes))).rejects.toThrow(/larger than any file/);
  });

  it("rejects a local header offset out of range", async () => {
    const bytes = Buffer.from(built.bytes);
    bytes.writeUInt32LE(built.centralDirectoryOffset + 4, built.entries[1].centralHeaderOffset + 42);
    const directory = await readZipDirectory(writeArchive(bytes));
    const entry = findZipEntry(directory, "pkg/model.gguf");
    const output = outputPath();

    await expect(extractZipEntry(directory, entry!, output)).rejects.toThrow(/local header offset/);
    expect(existsSync(output)).toBe(false);
  });

  it("rejects damaged deflate data and removes the output", async () => {
    const bytes = Buffer.from(built.bytes);
    const { dataOffset, dataLength } = built.entries[1];
    bytes.fill(0xff, dataOffset, dataOffset + Math.min(64, dataLength));
    const directory = await readZipDirectory(writeArchive(bytes));
    const output = outputPath();

    const run = extractZipEntry(directory, findZipEntry(directory, "pkg/model.gguf")!, output);

    await expect(run).rejects.toBeInstanceOf(CorruptFileError);
    expect(existsSync(output)).toBe(false);
  });

  it("rejects a CRC mismatch and removes the output", async () => {
    const bytes = Buffer.from(built.bytes);
    const { dataOffset } = built.entries[3];
    bytes[dataOffset + 100] ^= 0x01;
    const directory = await readZipDirectory(writeArchive(bytes));
    const output = outputPath();

    const run = extractZipEntry(directory, findZipEntry(directory, "pkg/stored.bin")!, output);

    await expect(run).rejects.toThrow(/CRC-32 0x[0-9a-f]{8}, but 0x[0-9a-f]{8} was declared/);
    expect(existsSync(output)).toBe(false);
  });

  it("stops at the declared size", async () => {
    const bytes = Buffer.from(built.bytes);
    bytes.writeUInt32LE(1000, built.entries[1].centralHeaderOffset + 24);
    const directory = await readZipDirectory(writeArchive(bytes));
    const output = outputPath();

    const run = extractZipEntry(directory, findZipEntry(directory, "pkg/model.gguf")!, output);

    await expect(run).rejects.toThrow(/extracts to more than the declared 1000 bytes/);
    expect(existsSync(output)).toBe(false);
  });

  it("rejects data shorter than declared", async () => {
    const bytes = Buffer.from(built.bytes);
    bytes.writeUInt32LE(sampleEntries[1].data.length + 5, built.entries[1].centralHeaderOffset + 24);
    const directory = await readZipDirectory(writeArchive(bytes));

    const run = extractZipEntry(directory, findZipEntry(directory, "pkg/model.gguf")!, outputPath());

    await expect(run).rejects.toThrow(/but \d+ were declared/);
  });

  it("rejects truncated deflate data", async () => {
    const bytes = Buffer.from(built.bytes);
    const header = built.entries[1].centralHeaderOffset;
    bytes.writeUInt32LE(Math.floor(built.entries[1].dataLength / 2), header + 20);
    const directory = await readZipDirectory(writeArchive(bytes));

    const run = extractZipEntry(directory, findZipEntry(directory, "pkg/model.gguf")!, outputPath());

    await expect(run).rejects.toThrow(/invalid deflate data/);
  });

  it("rejects other compression methods and encryption", async () => {
    const bytes = Buffer.from(built.bytes);
    bytes.writeUInt16LE(12, built.entries[1].centralHeaderOffset + 10);
    bytes.writeUInt16LE(0x0801, built.entries[3].centralHeaderOffset + 8);
    const directory = await readZipDirectory(writeArchive(bytes));

    const bzip2 = extractZipEntry(directory, findZipEntry(directory, "pkg/model.gguf")!, outputPath());
    const encrypted = extractZipEntry(directory, findZipEntry(directory, "pkg/stored.bin")!, outputPath());

    await expect(bzip2).rejects.toBeInstanceOf(UnsupportedVersionError);
    await expect(bzip2).rejects.toThrow(/compression method 12/);
    await expect(encrypted).rejects.toThrow(/encrypted/);
  });

  it("rejects a local name that differs from the central name", async () => {
    const bytes = Buffer.from(built.bytes);
    bytes[built.entries[0].localHeaderOffset + 30] = "q".charCodeAt(0);
    const directory = await readZipDirectory(writeArchive(bytes));

    const run = extractZipEntry(directory, findZipEntry(directory, "pkg/__init__.py")!, outputPath());

    await expect(run).rejects.toThrow(/local header names qkg\/__init__.py/);
  });

  it("rejects duplicate names", async () => {
    const duplicated = buildZip([sampleEntries[0], sampleEntries[0]]);
    const directory = await readZipDirectory(writeArchive(duplicated.bytes));

    expect(() => findZipEntry(directory, "pkg/__init__.py")).toThrow(/occurs 2 times/);
  });
});
