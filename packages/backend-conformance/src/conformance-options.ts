// The options of defineBackendConformanceSuite and their validation, separate from the vitest
// registration so that a mistake in them fails when the suite is defined, with a message naming it.
import { InvalidArgumentError, type Backend } from "@elitekv/core";
import { createCpuBackend } from "@elitekv/runtime-cpu";

import { resolveSettings, type ConformanceSettings } from "./conformance-settings.js";
import { resolveTolerances, type ConformanceTolerances } from "./conformance-tolerances.js";
import { conformanceVariants, type ConformanceVariant, type ConformanceVariantName } from "./conformance-variants.js";
import { conformanceModels, resolveSharedDir, type ConformanceModel, type ConformanceModelName } from "./shared-models.js";

export interface BackendConformanceOptions {
  /** Backend name shown in test titles. */
  name: string;
  /** Creates the backend under test. It is called once before the first check and disposed after the last. */
  createBackend: () => Backend | Promise<Backend>;
  /** Creates the ground truth. Defaults to createCpuBackend({ threads: 1 }) from @elitekv/runtime-cpu. */
  createReference?: () => Backend | Promise<Backend>;
  /** Overrides of defaultConformanceTolerances. */
  tolerances?: Partial<ConformanceTolerances>;
  /** Shared models to run, or all of conformanceModels when omitted. */
  models?: readonly ConformanceModelName[];
  /** Model variants to run, or all of conformanceVariants when omitted. */
  variants?: readonly ConformanceVariantName[];
  /** Context of every session, in tokens. Defaults to 96. */
  maxContext?: number;
  /** Greedy decode steps after the prompt. Defaults to 32. */
  decodeSteps?: number;
  /** Folder with the shared models. Defaults to $ELITEKV_SHARED_DIR, then ../shared beside the repository root. */
  sharedDir?: string;
  /** Timeout of each check and of each variant's setup, in milliseconds. Defaults to 120000. */
  timeoutMs?: number;
}

export interface ResolvedConformanceOptions {
  name: string;
  createBackend: () => Backend | Promise<Backend>;
  createReference: () => Backend | Promise<Backend>;
  tolerances: ConformanceTolerances;
  models: ConformanceModel[];
  variants: ConformanceVariant[];
  settings: ConformanceSettings;
  sharedDir: string;
  timeoutMs: number;
}

const defaultTimeoutMs = 120_000;

/** Returns the options with every default applied. Throws InvalidArgumentError naming the first invalid option. */
export function resolveConformanceOptions(options: BackendConformanceOptions): ResolvedConformanceOptions {
  if (typeof options?.name !== "string" || options.name.trim() === "") {
    throw new InvalidArgumentError("name must be a non-empty string naming the backend", { field: "name" });
  }
  if (typeof options.createBackend !== "function") {
    throw new InvalidArgumentError("createBackend must be a function that returns the backend under test", { field: "createBackend" });
  }
  if (options.createReference !== undefined && typeof options.createReference !== "function") {
    throw new InvalidArgumentError("createReference must be a function that returns the reference backend", { field: "createReference" });
  }

  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
    throw new InvalidArgumentError(`timeoutMs must be a positive integer, got ${String(timeoutMs)}`, { field: "timeoutMs" });
  }

  return {
    name: options.name,
    createBackend: options.createBackend,
    createReference: options.createReference ?? (() => createCpuBackend({ threads: 1 })),
    tolerances: resolveTolerances(options.tolerances),
    models: selectByName(conformanceModels, options.models, "models"),
    variants: selectByName(conformanceVariants, options.variants, "variants"),
    settings: resolveSettings({ maxContext: options.maxContext, decodeSteps: options.decodeSteps }),
    sharedDir: resolveSharedDir({ sharedDir: options.sharedDir }),
    timeoutMs,
  };
}

/** Returns the entries named in `names` in the order of `all`, or all entries when `names` is omitted. */
function selectByName<T extends { name: string }>(all: readonly T[], names: readonly string[] | undefined, field: string): T[] {
  if (names === undefined) return [...all];
  const known = new Set(all.map((entry) => entry.name));
  const unknown = names.filter((name) => !known.has(name));
  if (unknown.length > 0 || names.length === 0) {
    throw new InvalidArgumentError(
      `${field} must list at least one of ${[...known].join(", ")}; got ${names.length === 0 ? "an empty list" : unknown.join(", ")}`,
      { field },
    );
  }
  return all.filter((entry) => names.includes(entry.name));
}
