// Sizes of the conformance runs: the prompt, the decode steps and the session's context. Kept small so
// that the reference CPU backend runs every check of a shared model in about a second.
import { InvalidArgumentError, type LoadedModel } from "@elitekv/core";

export interface ConformanceSettings {
  /** Tokens every session is created for (SessionOptions.maxContext). */
  maxContext: number;
  /** Greedy decode steps after the prompt. */
  decodeSteps: number;
  /** Maximum prompt length in tokens. A longer tokenized prompt is cut to it. */
  promptTokens: number;
  /** Lengths of the two prefills of the continuation check. Their sum must not exceed promptTokens. */
  continuationSplit: readonly [number, number];
}

export const defaultConformanceSettings: Readonly<ConformanceSettings> = Object.freeze({
  maxContext: 96,
  decodeSteps: 32,
  promptTokens: 24,
  continuationSplit: Object.freeze([5, 7] as const),
});

/** The text every model is prompted with, tokenized with BOS. */
export const conformancePromptText =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog, Max.";

/** Returns the prompt ids of `model`: conformancePromptText with BOS, cut to `promptTokens`. */
export function conformancePromptIds(model: LoadedModel, promptTokens = defaultConformanceSettings.promptTokens): number[] {
  return model.tokenizer.encode(conformancePromptText, { addBos: true }).slice(0, promptTokens);
}

/**
 * Returns the defaults overridden by `overrides`. Throws InvalidArgumentError when a value is not a
 * positive integer, or when the context cannot hold the prompt and every decode step.
 */
export function resolveSettings(overrides: Partial<ConformanceSettings> = {}): ConformanceSettings {
  const settings: ConformanceSettings = { ...defaultConformanceSettings, ...dropUndefined(overrides) };
  for (const field of ["maxContext", "decodeSteps", "promptTokens"] as const) {
    const value = settings[field];
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new InvalidArgumentError(`${field} must be a positive integer, got ${String(value)}`, { field });
    }
  }

  const [first, second] = settings.continuationSplit;
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 1 || second < 1) {
    throw new InvalidArgumentError(`continuationSplit must be two positive integers, got [${settings.continuationSplit.join(", ")}]`, {
      field: "continuationSplit",
    });
  }
  if (first + second > settings.promptTokens) {
    throw new InvalidArgumentError(
      `continuationSplit [${first}, ${second}] needs ${first + second} prompt tokens but promptTokens is ${settings.promptTokens}`,
      { field: "continuationSplit" },
    );
  }
  if (settings.promptTokens + settings.decodeSteps > settings.maxContext) {
    throw new InvalidArgumentError(
      `maxContext ${settings.maxContext} cannot hold ${settings.promptTokens} prompt tokens and ${settings.decodeSteps} decode steps; ` +
        `raise maxContext to at least ${settings.promptTokens + settings.decodeSteps}`,
      { field: "maxContext" },
    );
  }
  return settings;
}

function dropUndefined<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}
