// Maps what a user passes as a model (a pinned name or a path) to a path the loaders can open.
import { existsSync } from "node:fs";

import { FileNotFoundError } from "@elitekv/core";

import { pinnedModelPath, resolveCacheDir } from "./model-cache.js";
import { isPinnedModelName, pinnedModels } from "./pinned-models.js";

/**
 * Returns the cached file for a pinned model name such as "smollm2", and any other value unchanged as a
 * path. A pinned name wins over a file or folder of the same name in the working directory; pass
 * "./smollm2" for that one. Throws FileNotFoundError, with the fetch command to run, when a pinned model
 * is not in the cache. The cached file's checksum is not checked here; `fetchPinnedModel` does that.
 */
export function resolveModelPath(nameOrPath: string, options: { cacheDir?: string } = {}): string {
  if (!isPinnedModelName(nameOrPath)) return nameOrPath;

  const cacheDir = resolveCacheDir(options.cacheDir);
  const path = pinnedModelPath(cacheDir, pinnedModels[nameOrPath]);
  if (!existsSync(path)) {
    // Without --cache-dir, fetch would store the model in the default folder and this lookup would fail again.
    const fetchCommand =
      options.cacheDir === undefined || options.cacheDir === ""
        ? `elitekv fetch ${nameOrPath}`
        : `elitekv fetch ${nameOrPath} --cache-dir ${shellQuote(cacheDir)}`;
    throw new FileNotFoundError(path, `model ${nameOrPath} is not fetched yet; run \`${fetchCommand}\``);
  }
  return path;
}

/** Quotes `text` for a POSIX shell when it contains characters other than letters, digits and `_./-`. */
function shellQuote(text: string): string {
  return /^[\w./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}
