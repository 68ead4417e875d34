// JSON on stdout. Commands call this once, after all work succeeded, so that a failure never leaves a
// partial document on stdout.
import type { OutputStream } from "../cli-io.js";

export function writeJson(stream: OutputStream, value: unknown): void {
  stream.write(`${JSON.stringify(value, null, 2)}\n`);
}
