// Reads a JSON file of a model folder with typed errors that name the file.
import { readFile } from "node:fs/promises";

import { CorruptFileError, FileNotFoundError } from "@elitekv/core";

import { isErrnoError } from "../safetensors/binary-file.js";

/**
 * Returns the parsed JSON of `path`. A missing file raises FileNotFoundError with `hint`, or returns
 * undefined when `optional` is set; invalid JSON raises CorruptFileError.
 */
export async function readJsonFile(
  path: string,
  hint?: string,
  options: { optional?: boolean } = {},
): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if (isErrnoError(error, "ENOENT")) {
      if (options.optional === true) return undefined;
      throw new FileNotFoundError(path, hint);
    }
    throw error;
  }

  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CorruptFileError(`not valid JSON: ${(error as Error).message}`, { file: path, cause: error });
  }
}
