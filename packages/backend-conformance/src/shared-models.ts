// The shared models the suite runs on and where it finds them. The folder is resolved in the same order
// as the repository's test helper: an explicit path, then $ELITEKV_SHARED_DIR, then `shared` beside the
// repository root.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

export type ConformanceModelName = "stories260K" | "aidreams260K" | "tinystories-656k" | "llama-2-tiny-random-gguf";

export interface ConformanceModel {
  name: ConformanceModelName;
  /** Path that loadModel reads, relative to the shared folder. */
  path: string;
  /** Format and attention type, shown in test titles. */
  description: string;
}

export const conformanceModels: readonly ConformanceModel[] = Object.freeze([
  { name: "stories260K", path: "models/stories260K/stories260K.bin", description: "llama2.c, grouped-query attention" },
  { name: "aidreams260K", path: "models/aidreams260K/aidreams260K.bin", description: "llama2.c, multi-head attention" },
  { name: "tinystories-656k", path: "models/tinystories-656k", description: "Hugging Face folder, grouped-query attention" },
  {
    name: "llama-2-tiny-random-gguf",
    path: "models/llama-2-tiny-random-gguf/llama-2-tiny-random.gguf",
    description: "GGUF F16, full LLaMA-2 vocabulary, untied output head",
  },
]);

/** Files that mark a repository root, searched from the working directory upwards. */
const rootMarkers = ["pnpm-workspace.yaml", ".git"];

/**
 * Returns the nearest folder at or above `start` that contains pnpm-workspace.yaml or .git, or
 * undefined when there is none.
 */
export function findRepositoryRoot(start: string): string | undefined {
  let folder = resolve(start);
  for (;;) {
    if (rootMarkers.some((marker) => existsSync(join(folder, marker)))) return folder;
    const parent = dirname(folder);
    if (parent === folder) return undefined;
    folder = parent;
  }
}

export interface SharedDirSources {
  /** Explicit folder, as BackendConformanceOptions.sharedDir passes it. */
  sharedDir?: string;
  /** Environment to read ELITEKV_SHARED_DIR from. Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Folder the repository root search starts from. Defaults to process.cwd(). */
  cwd?: string;
}

/**
 * Returns the shared folder: `sharedDir`, else $ELITEKV_SHARED_DIR, else `../shared` relative to the
 * repository root found from the working directory (the working directory itself when no root is found).
 */
export function resolveSharedDir(sources: SharedDirSources = {}): string {
  const cwd = sources.cwd ?? process.cwd();
  if (sources.sharedDir !== undefined && sources.sharedDir !== "") return resolve(cwd, sources.sharedDir);

  const fromEnv = (sources.env ?? process.env).ELITEKV_SHARED_DIR;
  if (fromEnv !== undefined && fromEnv !== "") return resolve(cwd, fromEnv);

  const root = findRepositoryRoot(cwd) ?? cwd;
  return resolve(root, "..", "shared");
}

/** Returns true when ELITEKV_REQUIRE_SHARED=1, which turns a missing shared model into a test failure. */
export function sharedModelsRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.ELITEKV_REQUIRE_SHARED === "1";
}

/** Returns why `model` cannot run from `sharedDir`, or undefined when its files are there. */
export function missingModelReason(sharedDir: string, model: ConformanceModel): string | undefined {
  if (!existsSync(join(sharedDir, "models"))) {
    return `shared models folder not found at ${sharedDir}; set ELITEKV_SHARED_DIR or the sharedDir option`;
  }
  const path = join(sharedDir, model.path);
  if (!existsSync(path)) return `model ${model.name} not found at ${path}`;
  return undefined;
}
