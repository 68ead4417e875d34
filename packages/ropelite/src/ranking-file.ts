// The ranking.json artifact: per layer and KV head the chunk ranking, with the model and calibration
// it came from. Reading validates every field and names the first bad one.
import { randomBytes } from "node:crypto";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

import { CorruptFileError, FileNotFoundError, UnsupportedVersionError } from "@elitekv/core";

import type { HeadRanking } from "./greedy-ranking.js";

export const rankingSchemaVersion = 1;

export const rankingStrategies = ["ropelite", "uniform", "contribution", "high-freq", "low-freq"] as const;
export type RankingStrategy = (typeof rankingStrategies)[number];

export interface RankingModelInfo {
  /** sha256 of the model files, lowercase hex (see fingerprintModelFiles). */
  fingerprint: string;
  layers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
}

export interface RankingCalibration {
  /** Label of the calibration text, such as its file name. */
  text: string;
  /** Ids in the calibration stream the windows were cut from. */
  tokens: number;
  windows: number;
  windowLength: number;
  /** Causal pairs sampled per window. */
  pairs: number;
  seed: number;
}

export interface LayerRanking {
  /** One entry per KV head. */
  kvHeads: HeadRanking[];
}

export interface RopeliteRanking {
  schemaVersion: 1;
  model: RankingModelInfo;
  strategy: RankingStrategy;
  calibration: RankingCalibration;
  /** One entry per layer. */
  layers: LayerRanking[];
}

/**
 * Checks a parsed ranking against the schema and its own model dims: every ranking is a permutation
 * of 0 .. headDim/2 - 1, and objectives are empty or have one finite, non-negative value per chunk.
 * Throws CorruptFileError naming the field. `file` only labels the message.
 */
export function validateRanking(value: unknown, file: string): RopeliteRanking {
  const fail = (field: string, problem: string): never => {
    throw new CorruptFileError(`${problem}; regenerate the ranking with the analyze step`, { file, field });
  };

  const root = requireObject(value, "(root)", fail);
  if (root.schemaVersion !== rankingSchemaVersion) {
    if (typeof root.schemaVersion === "number") {
      throw new UnsupportedVersionError(
        `schemaVersion ${root.schemaVersion} is not supported, this build reads version ${rankingSchemaVersion}; ` +
          "regenerate the ranking with this version",
        { file, field: "schemaVersion" },
      );
    }
    fail("schemaVersion", `expected the number ${rankingSchemaVersion}, got ${describe(root.schemaVersion)}`);
  }

  const model = requireObject(root.model, "model", fail);
  if (typeof model.fingerprint !== "string" || !/^[0-9a-f]{64}$/.test(model.fingerprint)) {
    fail("model.fingerprint", `expected 64 lowercase hex digits, got ${describe(model.fingerprint)}`);
  }
  const layerCount = requireInteger(model.layers, "model.layers", 1, fail);
  const numHeads = requireInteger(model.numHeads, "model.numHeads", 1, fail);
  const numKvHeads = requireInteger(model.numKvHeads, "model.numKvHeads", 1, fail);
  const headDim = requireInteger(model.headDim, "model.headDim", 2, fail);
  if (headDim % 2 !== 0) fail("model.headDim", `expected an even head dim, got ${headDim}`);
  if (numHeads % numKvHeads !== 0) {
    fail("model.numKvHeads", `numHeads ${numHeads} is not a multiple of numKvHeads ${numKvHeads}`);
  }

  if (typeof root.strategy !== "string" || !(rankingStrategies as readonly string[]).includes(root.strategy)) {
    fail("strategy", `expected one of ${rankingStrategies.join(", ")}, got ${describe(root.strategy)}`);
  }

  const calibration = requireObject(root.calibration, "calibration", fail);
  if (typeof calibration.text !== "string") fail("calibration.text", `expected a string, got ${describe(calibration.text)}`);
  requireInteger(calibration.tokens, "calibration.tokens", 0, fail);
  requireInteger(calibration.windows, "calibration.windows", 0, fail);
  requireInteger(calibration.windowLength, "calibration.windowLength", 0, fail);
  requireInteger(calibration.pairs, "calibration.pairs", 0, fail);
  const seed = requireInteger(calibration.seed, "calibration.seed", 0, fail);
  if (seed > 0xffffffff) fail("calibration.seed", `expected a seed below 2^32, got ${seed}`);

  if (!Array.isArray(root.layers) || root.layers.length !== layerCount) {
    fail("layers", `expected an array of model.layers = ${layerCount} entries, got ${describeLength(root.layers)}`);
  }
  const chunks = headDim / 2;
  (root.layers as unknown[]).forEach((layerValue, layer) => {
    const layerObject = requireObject(layerValue, `layers[${layer}]`, fail);
    const kvHeads = layerObject.kvHeads;
    if (!Array.isArray(kvHeads) || kvHeads.length !== numKvHeads) {
      fail(`layers[${layer}].kvHeads`, `expected ${numKvHeads} entries, got ${describeLength(kvHeads)}`);
    }
    (kvHeads as unknown[]).forEach((headValue, kvHead) => {
      validateHeadRanking(headValue, `layers[${layer}].kvHeads[${kvHead}]`, chunks, fail);
    });
  });

  return value as RopeliteRanking;
}

/** Reads and validates a ranking.json file. */
export async function readRanking(path: string): Promise<RopeliteRanking> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new FileNotFoundError(path);
    throw error;
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new CorruptFileError(`invalid JSON (${(error as Error).message}); regenerate the ranking`, {
      file: path,
      cause: error,
    });
  }
  return validateRanking(parsed, path);
}

/** Validates `ranking` and writes it as JSON through a temp file in the same folder and a rename. */
export async function writeRanking(path: string, ranking: RopeliteRanking): Promise<void> {
  validateRanking(ranking, path);

  const temporary = join(dirname(path), `.elitekv-tmp-${basename(path)}-${randomBytes(6).toString("hex")}`);
  try {
    await writeFile(temporary, `${JSON.stringify(ranking, null, 2)}\n`, "utf8");
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

type Fail = (field: string, problem: string) => never;

function validateHeadRanking(value: unknown, field: string, chunks: number, fail: Fail): void {
  const head = requireObject(value, field, fail);

  const ranking = head.ranking;
  if (!Array.isArray(ranking) || ranking.length !== chunks) {
    fail(`${field}.ranking`, `expected all ${chunks} chunk indices, got ${describeLength(ranking)}`);
  }
  const seen = new Set<number>();
  for (const chunk of ranking as unknown[]) {
    if (typeof chunk !== "number" || !Number.isInteger(chunk) || chunk < 0 || chunk >= chunks || seen.has(chunk)) {
      fail(`${field}.ranking`, `expected a permutation of 0 .. ${chunks - 1}, found ${describe(chunk)}`);
    }
    seen.add(chunk as number);
  }

  const objective = head.objective;
  if (!Array.isArray(objective) || (objective.length !== 0 && objective.length !== chunks)) {
    fail(`${field}.objective`, `expected 0 or ${chunks} values, got ${describeLength(objective)}`);
  }
  for (const entry of objective as unknown[]) {
    if (typeof entry !== "number" || !Number.isFinite(entry) || entry < 0) {
      fail(`${field}.objective`, `expected finite non-negative numbers, found ${describe(entry)}`);
    }
  }
}

function requireObject(value: unknown, field: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(field, `expected an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

function requireInteger(value: unknown, field: string, minimum: number, fail: Fail): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < minimum) {
    fail(field, `expected an integer >= ${minimum}, got ${describe(value)}`);
  }
  return value as number;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

function describeLength(value: unknown): string {
  return Array.isArray(value) ? `${value.length} entries` : describe(value);
}
