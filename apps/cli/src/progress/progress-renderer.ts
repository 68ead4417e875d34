// The contract every progress renderer meets, and the choice between them: nothing with --quiet, a
// bar when stderr is a terminal, JSON lines otherwise.
import type { ProgressListener } from "@elitekv/core";

import type { OutputStream } from "../cli-io.js";
import { JsonLinesProgressRenderer } from "./json-lines-progress-renderer.js";
import { SilentProgressRenderer } from "./silent-progress-renderer.js";
import { TtyProgressRenderer } from "./tty-progress-renderer.js";

export interface ProgressRenderer {
  /** Event listener. Events that arrive after close are ignored. */
  readonly listener: ProgressListener;
  /** Stops timers and restores the terminal. Idempotent. */
  close(): void;
}

export interface ProgressRendererOptions {
  stream: OutputStream;
  quiet?: boolean;
}

export function createProgressRenderer(options: ProgressRendererOptions): ProgressRenderer {
  if (options.quiet === true) return new SilentProgressRenderer();
  if (options.stream.isTTY === true) return new TtyProgressRenderer(options.stream);
  return new JsonLinesProgressRenderer(options.stream);
}
