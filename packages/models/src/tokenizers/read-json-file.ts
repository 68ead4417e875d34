// Reads a JSON file of a model folder with typed errors that name the file.
import { CorruptFileError, FileNotFoundError } from "@elitekv/core";

import { closeBinaryFile, openBinaryFile, readBytes, type BinaryFile } from "../safetensors/binary-file.js";

// Maximum size of a JSON file that is read. Larger files are rejected before any byte is read, because
// their text could exceed V8's maximum string length (about 2^29 UTF-16 code units on 64-bit builds).
// The tokenizer.json files of common models are far smaller, tens of megabytes or less (an estimate).
export const maxJsonFileBytes = 256 * 1024 * 1024;

/**
 * Returns the parsed JSON of `path`. A missing file raises FileNotFoundError with `hint`, or returns
 * undefined when `optional` is set. A folder, FIFO or device raises InvalidArgumentError, and a file
 * above maxJsonFileBytes or with invalid JSON raises CorruptFileError.
 */
export async function readJsonFile(
  path: string,
  hint?: string,
  options: { optional?: boolean } = {},
): Promise<unknown> {
  let file: BinaryFile;
  try {
    file = await openBinaryFile(path, hint);
  } catch (error) {
    if (options.optional === true && error instanceof FileNotFoundError) return undefined;
    throw error;
  }

  let bytes: Uint8Array;
  try {
    if (file.size > maxJsonFileBytes) {
      throw new CorruptFileError(
        `the file has ${file.size} bytes, more than the ${maxJsonFileBytes} bytes a JSON file of a model may have; ` +
          "pass the JSON file itself, not a weights file",
        { file: path },
      );
    }
    bytes = await readBytes(file, 0, file.size, "JSON text");
  } finally {
    await closeBinaryFile(file);
  }

  // Invalid UTF-8 becomes U+FFFD, as with readFile(path, "utf8"), so that JSON.parse reports the position.
  const text = new TextDecoder("utf-8").decode(bytes);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CorruptFileError(`not valid JSON: ${(error as Error).message}`, { file: path, cause: error });
  }
}
