// Streaming SHA-256 of a file, so that checking a large model never loads it into memory.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

/** Returns the lowercase hex SHA-256 of the file at `path`. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
