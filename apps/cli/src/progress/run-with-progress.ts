// Runs one command body with a progress renderer that is closed however the body ends, so that no
// bar timer keeps the process alive and the cursor is always restored.
import type { ProgressListener } from "@elitekv/core";

import type { OutputStream } from "../cli-io.js";
import { createProgressRenderer } from "./progress-renderer.js";

export async function runWithProgress<T>(
  stream: OutputStream,
  quiet: boolean | undefined,
  run: (onProgress: ProgressListener) => Promise<T>,
): Promise<T> {
  const renderer = createProgressRenderer({ stream, quiet });
  try {
    return await run(renderer.listener);
  } finally {
    renderer.close();
  }
}
