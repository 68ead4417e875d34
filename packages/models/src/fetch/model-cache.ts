// Cache layout of fetched models: <cacheDir>/models/<name>/<file name>.
import { homedir } from "node:os";
import { join, resolve } from "node:path";

import type { PinnedModel } from "./pinned-models.js";

/** Returns the cache folder as an absolute path: `cacheDir`, else $ELITEKV_CACHE_DIR, else ~/.cache/elitekv. */
export function resolveCacheDir(cacheDir?: string): string {
  const fromEnvironment = process.env.ELITEKV_CACHE_DIR;
  if (cacheDir !== undefined && cacheDir !== "") return resolve(cacheDir);
  if (fromEnvironment !== undefined && fromEnvironment !== "") return resolve(fromEnvironment);
  return join(homedir(), ".cache", "elitekv");
}

/** Returns the folder that contains one pinned model's file. */
export function pinnedModelDir(cacheDir: string, pin: PinnedModel): string {
  return join(cacheDir, "models", pin.name);
}

/** Returns the absolute path a pinned model's file has once fetched. */
export function pinnedModelPath(cacheDir: string, pin: PinnedModel): string {
  return join(pinnedModelDir(cacheDir, pin), pin.fileName);
}
