// Identity of a model's weights for artifacts such as ranking.json.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";

import { FileNotFoundError, InvalidArgumentError } from "@elitekv/core";

/**
 * Returns the sha256, lowercase hex, of the bytes of `files` read one after another in the given
 * order. For a single file this equals `sha256sum FILE`.
 */
export async function fingerprintModelFiles(files: readonly string[]): Promise<string> {
  if (files.length === 0) {
    throw new InvalidArgumentError("no weight files to fingerprint; pass at least one path", { field: "files" });
  }

  const hash = createHash("sha256");
  for (const file of files) {
    try {
      const info = await stat(file);
      if (!info.isFile()) throw new FileNotFoundError(file, "expected a regular weight file");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new FileNotFoundError(file);
      throw error;
    }

    // Streaming keeps memory flat for multi-gigabyte weight files.
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  }
  return hash.digest("hex");
}
