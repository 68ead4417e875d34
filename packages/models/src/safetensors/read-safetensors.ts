// Reading safetensors files: the header first (checked in full before any tensor data is touched),
// then tensors one at a time, widened to float32.
import { basename } from "node:path";

import { InvalidArgumentError, UnknownFormatError, UnsupportedTensorTypeError, type StorageDtype, type Tensor } from "@elitekv/core";

import { closeBinaryFile, openBinaryFile, readBytes, type BinaryFile } from "./binary-file.js";
import {
  isSupportedSafetensorsDtype,
  parseSafetensorsHeader,
  parseSafetensorsHeaderLength,
  supportedSafetensorsDtypes,
  type SafetensorsDtype,
  type SafetensorsHeader,
  type SafetensorsTensorInfo,
} from "./safetensors-header.js";
import { decodeTensorBytes } from "./tensor-decoding.js";

/** A decoded tensor and the dtype it was stored in. */
export interface SafetensorsTensor extends Tensor {
  dtype: SafetensorsDtype;
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensor>;
}

const storageDtypes: Record<SafetensorsDtype, StorageDtype> = { F32: "f32", F16: "f16", BF16: "bf16" };

/** An open safetensors file whose header has been read and validated. Close it when done. */
export class SafetensorsReader {
  readonly path: string;
  readonly header: SafetensorsHeader;
  /** File offset of the first data byte. */
  readonly dataStart: number;
  private readonly file: BinaryFile;
  private readonly byName: Map<string, SafetensorsTensorInfo>;

  private constructor(file: BinaryFile, header: SafetensorsHeader, dataStart: number) {
    this.file = file;
    this.path = file.path;
    this.header = header;
    this.dataStart = dataStart;
    this.byName = new Map(header.tensors.map((tensor) => [tensor.name, tensor]));
  }

  /**
   * Opens `path` and validates its header. A PyTorch zip or a GGUF file raises UnknownFormatError;
   * a header that contradicts the file raises CorruptFileError.
   */
  static async open(path: string): Promise<SafetensorsReader> {
    const file = await openBinaryFile(path, "pass the path of a .safetensors file");
    try {
      const prefix = await readBytes(file, 0, Math.min(8, file.size), "header length");
      rejectOtherFormats(prefix, path);
      const headerLength = parseSafetensorsHeaderLength(prefix, file.size, path);
      const headerBytes = await readBytes(file, 8, headerLength, "header");
      const dataStart = 8 + headerLength;
      const header = parseSafetensorsHeader(headerBytes, file.size - dataStart, path);
      return new SafetensorsReader(file, header, dataStart);
    } catch (error) {
      await closeBinaryFile(file);
      throw error;
    }
  }

  names(): string[] {
    return this.header.tensors.map((tensor) => tensor.name);
  }

  info(name: string): SafetensorsTensorInfo | undefined {
    return this.byName.get(name);
  }

  /** Reads one tensor and widens it to float32; only F32, F16 and BF16 can be read. */
  async read(name: string): Promise<SafetensorsTensor> {
    const info = this.byName.get(name);
    if (info === undefined) {
      throw new InvalidArgumentError(`tensor ${name} is not in the file`, { file: this.path, field: `tensor ${name}` });
    }
    const dtype = info.dtype;
    if (!isSupportedSafetensorsDtype(dtype)) {
      throw new UnsupportedTensorTypeError(
        `dtype ${dtype} is not supported; convert the tensor to ${supportedSafetensorsDtypes.join(", ")}`,
        { file: this.path, field: `tensor ${name}` },
      );
    }

    const [begin, end] = info.dataOffsets;
    const bytes = await readBytes(this.file, this.dataStart + begin, end - begin, `tensor ${name}`);
    return { dtype, shape: [...info.shape], data: decodeTensorBytes(bytes, storageDtypes[dtype]) };
  }

  async close(): Promise<void> {
    await closeBinaryFile(this.file);
  }
}

/** Reads the header of a safetensors file without reading any tensor data. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const reader = await SafetensorsReader.open(path);
  await reader.close();
  return reader.header;
}

/** Reads every tensor of a safetensors file, widened to float32, with its `__metadata__` map. */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  const reader = await SafetensorsReader.open(path);
  try {
    const tensors = new Map<string, SafetensorsTensor>();
    for (const name of reader.names()) tensors.set(name, await reader.read(name));
    return { metadata: reader.header.metadata, tensors };
  } finally {
    await reader.close();
  }
}

const zipMagic = [0x50, 0x4b, 0x03, 0x04];
const ggufMagic = [0x47, 0x47, 0x55, 0x46];

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return bytes.byteLength >= magic.length && magic.every((byte, index) => bytes[index] === byte);
}

/** Names the format when a file that is clearly not safetensors is passed, instead of a bogus length. */
function rejectOtherFormats(prefix: Uint8Array, path: string): void {
  if (startsWith(prefix, zipMagic)) {
    throw new UnknownFormatError(
      path,
      `${basename(path)} is a zip archive, which looks like a PyTorch checkpoint (pytorch_model.bin); ` +
        "PyTorch pickles are not supported, convert the model to safetensors",
    );
  }
  if (startsWith(prefix, ggufMagic)) {
    throw new UnknownFormatError(path, `${basename(path)} is a GGUF file, not safetensors; load it as a model file instead`);
  }
}
