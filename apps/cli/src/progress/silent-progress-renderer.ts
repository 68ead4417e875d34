// The renderer behind --quiet: drops every event.
import type { ProgressEvent } from "@elitekv/core";

import type { ProgressRenderer } from "./progress-renderer.js";

export class SilentProgressRenderer implements ProgressRenderer {
  readonly listener = (_event: ProgressEvent): void => {};

  close(): void {}
}
