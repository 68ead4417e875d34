// Format detection and the one entry point that loads any supported model: a Hugging Face folder,
// a GGUF file, a llama2.c checkpoint or an EliteKV checkpoint folder. Names of pinned downloads are
// resolved by the CLI, not here.
import { stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

import {
  CorruptFileError,
  FileNotFoundError,
  InvalidArgumentError,
  UnknownFormatError,
  type LoadedModel,
  type ProgressListener,
} from "@elitekv/core";

import { eliteKvManifestFileName } from "./elitekv/elitekv-manifest.js";
import { loadEliteKvModel } from "./elitekv/load-elitekv-model.js";
import { loadGgufModel } from "./gguf/index.js";
import { loadHuggingFaceModel } from "./huggingface/load-huggingface-model.js";
import { llama2cMagic, parseLlama2cHeader, parseLlama2cLayout } from "./llama2c/llama2c-header.js";
import { loadLlama2cModel } from "./llama2c/load-llama2c-model.js";
import { closeBinaryFile, openBinaryFile, readBytes } from "./safetensors/binary-file.js";
import { maxSafetensorsHeaderBytes } from "./safetensors/safetensors-header.js";

export interface LoadModelOptions {
  /**
   * Tokenizer to use instead of the one found with the model (llama2.c tok*.bin, tokenizer.json). A GGUF
   * file contains its own, so a tokenizer given for one raises InvalidArgumentError.
   */
  tokenizerPath?: string;
  onProgress?: ProgressListener;
}

/** Format of a model path. Only "huggingface", "gguf", "llama2c" and "elitekv" can be loaded. */
export type DetectedModelFormat = "huggingface" | "gguf" | "llama2c" | "elitekv" | "safetensors" | "pytorch-zip" | "unknown";

/** Bytes read to detect a format: enough for the 256-byte llama2.c version 1 header. */
const sniffBytes = 256;

/** Detects the format of a file or folder from its content, not its name. */
export async function detectModelFormat(path: string): Promise<DetectedModelFormat> {
  if (path === "") {
    throw new InvalidArgumentError("the model path is empty; pass a model file or folder", { field: "model" });
  }

  const stats = await stat(path).catch(() => undefined);
  if (stats === undefined) throw new FileNotFoundError(path);
  if (stats.isDirectory()) {
    // An EliteKV checkpoint has no config.json, so a folder with elitekv.json is never a Hugging Face one.
    const manifest = await stat(join(path, eliteKvManifestFileName)).catch(() => undefined);
    if (manifest?.isFile() === true) return "elitekv";
    const config = await stat(join(path, "config.json")).catch(() => undefined);
    return config?.isFile() === true ? "huggingface" : "unknown";
  }

  const file = await openBinaryFile(path);
  try {
    const prefix = await readBytes(file, 0, Math.min(sniffBytes, file.size), "header");
    return detectFromPrefix(prefix, file.size, path);
  } finally {
    await closeBinaryFile(file);
  }
}

function detectFromPrefix(prefix: Uint8Array, fileSize: number, path: string): DetectedModelFormat {
  if (startsWithAscii(prefix, "GGUF")) return "gguf";
  if (startsWithBytes(prefix, [0x50, 0x4b, 0x03, 0x04])) return "pytorch-zip";
  if (prefix.byteLength < 8) return "unknown";

  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  if (view.getUint32(0, true) === llama2cMagic) return "llama2c";
  if (looksLikeSafetensors(view, prefix, fileSize)) return "safetensors";

  try {
    parseLlama2cLayout(prefix, fileSize, path);
    return "llama2c";
  } catch {
    return "unknown";
  }
}

/** Returns true for a plausible header length followed by a JSON object (after optional JSON whitespace). */
function looksLikeSafetensors(view: DataView, prefix: Uint8Array, fileSize: number): boolean {
  const headerLength = view.getBigUint64(0, true);
  if (headerLength < 2n || headerLength > BigInt(maxSafetensorsHeaderBytes) || 8n + headerLength > BigInt(fileSize)) {
    return false;
  }
  for (let i = 8; i < prefix.byteLength; i++) {
    const byte = prefix[i];
    if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
    return byte === 0x7b;
  }
  return false;
}

function startsWithAscii(bytes: Uint8Array, text: string): boolean {
  return startsWithBytes(bytes, [...text].map((character) => character.charCodeAt(0)));
}

function startsWithBytes(bytes: Uint8Array, magic: readonly number[]): boolean {
  return bytes.byteLength >= magic.length && magic.every((byte, index) => bytes[index] === byte);
}

/**
 * Loads the model at `path` in whatever supported format it is. Raises FileNotFoundError for a missing
 * path and UnknownFormatError for anything that is not a Hugging Face folder, GGUF or llama2.c file,
 * with a hint for the usual mistakes (a bare safetensors file, a PyTorch zip).
 */
export async function loadModel(path: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const format = await detectModelFormat(path);
  switch (format) {
    case "huggingface":
      return loadHuggingFaceModel(path, options);
    case "gguf":
      rejectTokenizerPath(path, options.tokenizerPath);
      return loadGgufModel(path, { onProgress: options.onProgress });
    case "llama2c":
      return loadLlama2cModel(path, options);
    case "elitekv":
      return loadEliteKvModel(path, options);
    case "safetensors":
      throw new UnknownFormatError(
        path,
        "a safetensors file alone has no config or tokenizer; pass the Hugging Face model folder " +
          `that contains config.json, the safetensors weights and tokenizer.json (here: ${dirname(path)})`,
      );
    case "pytorch-zip":
      throw new UnknownFormatError(
        path,
        `${basename(path)} is a zip archive (a PyTorch checkpoint); PyTorch checkpoints are not supported, ` +
          "convert the model to safetensors",
      );
    case "unknown":
      throw await unknownFormatError(path);
  }
}

/**
 * Rejects a tokenizer given for a GGUF file, which carries its vocabulary in its own metadata, so that
 * a requested tokenizer is never silently ignored.
 */
function rejectTokenizerPath(path: string, tokenizerPath: string | undefined): void {
  if (tokenizerPath === undefined) return;
  throw new InvalidArgumentError(
    `tokenizer ${tokenizerPath} was given, but the GGUF file ${path} contains its own tokenizer and cannot use ` +
      "another one; drop the tokenizer option",
    { field: "tokenizer" },
  );
}

/**
 * Explains an unrecognised path. A file whose first 28 bytes read as a plausible llama2.c header but
 * whose size does not match gets the llama2.c size error, since a truncated download is the usual cause.
 */
async function unknownFormatError(path: string): Promise<Error> {
  const stats = await stat(path);
  if (stats.isDirectory()) {
    return new UnknownFormatError(
      path,
      "the folder has no config.json; pass a Hugging Face model folder, a GGUF file, a llama2.c checkpoint " +
        "or an EliteKV checkpoint folder (with elitekv.json)",
    );
  }

  if (stats.size === 0) {
    return new UnknownFormatError(path, "the file is empty (0 bytes); download or copy the model again");
  }

  const file = await openBinaryFile(path);
  try {
    const prefix = await readBytes(file, 0, Math.min(sniffBytes, file.size), "header");
    const sizeError = llama2cSizeError(prefix, file.size, path);
    if (sizeError !== undefined) return sizeError;
  } finally {
    await closeBinaryFile(file);
  }
  return new UnknownFormatError(
    path,
    "not a known model format; supported are Hugging Face folders (config.json + safetensors), GGUF files " +
      "and llama2.c checkpoints",
  );
}

/** Returns the size error of a file whose header reads as a plausible llama2.c header, else undefined. */
function llama2cSizeError(prefix: Uint8Array, fileSize: number, path: string): CorruptFileError | undefined {
  try {
    parseLlama2cHeader(prefix, fileSize, path);
  } catch {
    return undefined;
  }
  try {
    parseLlama2cLayout(prefix, fileSize, path);
  } catch (error) {
    if (error instanceof CorruptFileError) return error;
  }
  return undefined;
}
