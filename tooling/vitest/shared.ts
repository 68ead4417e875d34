// Locates the read-only model and data folder that tests read (never copied into the repository).
// Order: $ELITEKV_SHARED_DIR, then the folder `shared` beside the repository root.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export const sharedDir: string = process.env.ELITEKV_SHARED_DIR ?? resolve(repositoryRoot, "..", "shared");

/** True when the shared folder exists. CI sets ELITEKV_REQUIRE_SHARED=1 so that a missing folder fails. */
export const hasShared: boolean = existsSync(join(sharedDir, "models"));

if (!hasShared && process.env.ELITEKV_REQUIRE_SHARED === "1") {
  throw new Error(`shared models folder not found at ${sharedDir}; set ELITEKV_SHARED_DIR`);
}

export const sharedSkipReason = `shared models folder not found at ${sharedDir}`;

export function sharedPath(...parts: string[]): string {
  return join(sharedDir, ...parts);
}

export { repositoryRoot };
