// Validation of elitekv.json: every field is type-checked before use and every derived field (latent
// widths, frequencies, ratio) must agree with what it is derived from. Errors name the file and field.
import {
  InvalidConfigError,
  ropeInverseFrequencies,
  UnsupportedArchitectureError,
  UnsupportedVersionError,
  validateEliteKvConfig,
  validateModelConfig,
  type ModelConfig,
  type RopeScaling,
} from "@elitekv/core";

import {
  eliteConfigOfManifest,
  eliteKvFormatVersion,
  eliteKvRatio,
  type EliteKvAllocation,
  type EliteKvCalibration,
  type EliteKvDistillation,
  type EliteKvManifest,
  type EliteKvManifestElite,
  type EliteKvManifestLayer,
  type EliteKvRecovery,
} from "./elitekv-manifest.js";

type JsonObject = Record<string, unknown>;

/** Relative tolerance for the stored frequencies and ratio, which are derived floats. */
const derivedTolerance = 1e-9;

/**
 * Parses and validates the JSON of elitekv.json. A formatVersion other than 1 raises
 * UnsupportedVersionError; any other missing, mistyped or inconsistent field raises InvalidConfigError.
 */
export function parseEliteKvManifest(json: unknown, file: string): EliteKvManifest {
  const fail = (field: string, message: string) => new InvalidConfigError(message, { file, field });
  const root = expectObject(json, "(root)", fail);

  const version = root.formatVersion;
  if (typeof version !== "number") throw fail("formatVersion", `formatVersion must be a number, got ${describe(version)}`);
  if (version !== eliteKvFormatVersion) {
    throw new UnsupportedVersionError(
      `formatVersion ${version} is not supported; this version of elitekv reads formatVersion ${eliteKvFormatVersion}, so convert the model again or upgrade elitekv`,
      { file, field: "formatVersion" },
    );
  }

  const baseConfig = parseBaseConfig(root.baseConfig, file, fail);
  const elite = parseElite(root.elite, baseConfig, file, fail);

  const svd = root.svd;
  if (svd !== "weight" && svd !== "activation") throw fail("svd", `svd must be "weight" or "activation", got ${describe(svd)}`);
  const dtype = root.dtype;
  if (dtype !== "f32" && dtype !== "f16") throw fail("dtype", `dtype must be "f32" or "f16", got ${describe(dtype)}`);

  const ranking = expectObject(root.ranking, "ranking", fail);
  if (typeof ranking.strategy !== "string" || ranking.strategy.length === 0) {
    throw fail("ranking.strategy", `ranking.strategy must be a non-empty string, got ${describe(ranking.strategy)}`);
  }
  const calibration = expectObject(ranking.calibration, "ranking.calibration", fail);
  for (const [key, value] of Object.entries(calibration)) {
    if (value !== null && !["string", "number", "boolean"].includes(typeof value)) {
      throw fail(`ranking.calibration.${key}`, `calibration values must be strings, numbers, booleans or null, got ${describe(value)}`);
    }
  }

  const sourceSha256 = root.sourceSha256;
  if (typeof sourceSha256 !== "string" || !/^[0-9a-f]{64}$/.test(sourceSha256)) {
    throw fail("sourceSha256", `sourceSha256 must be 64 lowercase hex digits, got ${describe(sourceSha256)}`);
  }

  const allocation = root.allocation === undefined ? undefined : parseAllocation(root.allocation, fail);
  const recovery = root.recovery === undefined ? undefined : parseRecovery(root.recovery, baseConfig.numLayers, fail);

  return {
    formatVersion: eliteKvFormatVersion,
    baseConfig,
    elite,
    svd,
    dtype,
    ranking: { strategy: ranking.strategy, calibration: calibration as EliteKvCalibration },
    sourceSha256,
    ...(allocation === undefined ? {} : { allocation }),
    ...(recovery === undefined ? {} : { recovery }),
  };
}

function parseRecovery(value: unknown, numLayers: number, fail: Fail): EliteKvRecovery {
  const raw = expectObject(value, "recovery", fail);
  if (raw.method !== "layerwise" && raw.method !== "distill" && raw.method !== "both") {
    throw fail("recovery.method", `recovery.method must be "layerwise", "distill" or "both", got ${describe(raw.method)}`);
  }
  if (typeof raw.text !== "string") throw fail("recovery.text", `recovery.text must be a string, got ${describe(raw.text)}`);
  const integer = (key: string, min: number) => {
    const field = raw[key];
    if (typeof field !== "number" || !Number.isSafeInteger(field) || field < min) {
      throw fail(`recovery.${key}`, `recovery.${key} must be an integer of at least ${min}, got ${describe(field)}`);
    }
    return field;
  };
  const tokens = integer("tokens", 0);
  const seqLen = integer("seqLen", 1);
  const steps = integer("steps", 0);
  const seed = integer("seed", Number.MIN_SAFE_INTEGER);

  if (!Array.isArray(raw.layers)) throw fail("recovery.layers", `recovery.layers must be an array, got ${describe(raw.layers)}`);
  const seen = new Set<number>();
  const layers = raw.layers.map((entry: unknown, index: number) => {
    const field = `recovery.layers[${index}]`;
    const layer = expectObject(entry, field, fail);
    if (typeof layer.layer !== "number" || !Number.isSafeInteger(layer.layer) || layer.layer < 0 || layer.layer >= numLayers || seen.has(layer.layer)) {
      throw fail(`${field}.layer`, `${field}.layer must be a layer index in 0..${numLayers - 1} listed once, got ${describe(layer.layer)}`);
    }
    seen.add(layer.layer);
    for (const key of ["lossBefore", "lossAfter"]) {
      const loss = layer[key];
      if (typeof loss !== "number" || !Number.isFinite(loss) || loss < 0) {
        throw fail(`${field}.${key}`, `${field}.${key} must be a finite non-negative number, got ${describe(loss)}`);
      }
    }
    return { layer: layer.layer, lossBefore: layer.lossBefore as number, lossAfter: layer.lossAfter as number };
  });

  const distills = raw.method === "distill" || raw.method === "both";
  if (distills !== (raw.distillation !== undefined)) {
    const expected = distills ? `is required for method "${raw.method}"` : `must be absent for method "${raw.method}"`;
    throw fail("recovery.distillation", `recovery.distillation ${expected}, got ${describe(raw.distillation)}`);
  }
  const recovery: EliteKvRecovery = { method: raw.method, text: raw.text, tokens, seqLen, steps, seed, layers };
  if (raw.distillation !== undefined) recovery.distillation = parseDistillation(raw.distillation, fail);
  return recovery;
}

function parseDistillation(value: unknown, fail: Fail): EliteKvDistillation {
  const raw = expectObject(value, "recovery.distillation", fail);
  const field = "recovery.distillation";
  if (typeof raw.steps !== "number" || !Number.isSafeInteger(raw.steps) || raw.steps < 0) {
    throw fail(`${field}.steps`, `${field}.steps must be a non-negative integer, got ${describe(raw.steps)}`);
  }
  if (typeof raw.learningRate !== "number" || !Number.isFinite(raw.learningRate) || raw.learningRate <= 0) {
    throw fail(`${field}.learningRate`, `${field}.learningRate must be a positive number, got ${describe(raw.learningRate)}`);
  }
  for (const key of ["klBefore", "klAfter"]) {
    const kl = raw[key];
    if (typeof kl !== "number" || !Number.isFinite(kl)) {
      throw fail(`${field}.${key}`, `${field}.${key} must be a finite number, got ${describe(kl)}`);
    }
  }
  if (typeof raw.kept !== "boolean") throw fail(`${field}.kept`, `${field}.kept must be true or false, got ${describe(raw.kept)}`);
  return { steps: raw.steps, learningRate: raw.learningRate, klBefore: raw.klBefore as number, klAfter: raw.klAfter as number, kept: raw.kept };
}

function parseAllocation(value: unknown, fail: Fail): EliteKvAllocation {
  const raw = expectObject(value, "allocation", fail);
  if (raw.method !== "rule" && raw.method !== "search") {
    throw fail("allocation.method", `allocation.method must be "rule" or "search", got ${describe(raw.method)}`);
  }
  if (raw.text !== null && typeof raw.text !== "string") {
    throw fail("allocation.text", `allocation.text must be a string or null, got ${describe(raw.text)}`);
  }
  if (typeof raw.tokens !== "number" || !Number.isSafeInteger(raw.tokens) || raw.tokens < 0) {
    throw fail("allocation.tokens", `allocation.tokens must be a non-negative integer, got ${describe(raw.tokens)}`);
  }
  if (!Array.isArray(raw.candidates)) {
    throw fail("allocation.candidates", `allocation.candidates must be an array, got ${describe(raw.candidates)}`);
  }
  const candidates = raw.candidates.map((entry: unknown, index: number) => {
    const field = `allocation.candidates[${index}]`;
    const candidate = expectObject(entry, field, fail);
    for (const key of ["ropeChunks", "latentDim"]) {
      if (typeof candidate[key] !== "number" || !Number.isSafeInteger(candidate[key])) {
        throw fail(`${field}.${key}`, `${field}.${key} must be an integer, got ${describe(candidate[key])}`);
      }
    }
    if (typeof candidate.ppl !== "number" || !(candidate.ppl > 0)) {
      throw fail(`${field}.ppl`, `${field}.ppl must be a positive number, got ${describe(candidate.ppl)}`);
    }
    return { ropeChunks: candidate.ropeChunks as number, latentDim: candidate.latentDim as number, ppl: candidate.ppl };
  });
  return { method: raw.method, text: raw.text, tokens: raw.tokens, candidates };
}

type Fail = (field: string, message: string) => InvalidConfigError;

function parseBaseConfig(value: unknown, file: string, fail: Fail): ModelConfig {
  const raw = expectObject(value, "baseConfig", fail);
  if (raw.architecture !== "llama") {
    throw new UnsupportedArchitectureError(`architecture must be "llama", got ${describe(raw.architecture)}`, {
      file,
      field: "baseConfig.architecture",
    });
  }

  const integer = (key: string) => {
    const field = raw[key];
    if (typeof field !== "number" || !Number.isSafeInteger(field)) {
      throw fail(`baseConfig.${key}`, `baseConfig.${key} must be an integer, got ${describe(field)}`);
    }
    return field;
  };
  const number = (object: JsonObject, key: string, prefix: string) => {
    const field = object[key];
    if (typeof field !== "number" || !Number.isFinite(field)) {
      throw fail(`${prefix}.${key}`, `${prefix}.${key} must be a finite number, got ${describe(field)}`);
    }
    return field;
  };

  const rope = expectObject(raw.rope, "baseConfig.rope", fail);
  const sourceLayout = rope.sourceLayout;
  if (sourceLayout !== "half" && sourceLayout !== "interleaved") {
    throw fail("baseConfig.rope.sourceLayout", `sourceLayout must be "half" or "interleaved", got ${describe(sourceLayout)}`);
  }
  const scaling = parseScaling(rope.scaling, number, fail);

  if (typeof raw.tieWordEmbeddings !== "boolean") {
    throw fail("baseConfig.tieWordEmbeddings", `tieWordEmbeddings must be a boolean, got ${describe(raw.tieWordEmbeddings)}`);
  }
  const bosTokenId = raw.bosTokenId;
  if (bosTokenId !== null && (typeof bosTokenId !== "number" || !Number.isSafeInteger(bosTokenId) || bosTokenId < 0)) {
    throw fail("baseConfig.bosTokenId", `bosTokenId must be a token id or null, got ${describe(bosTokenId)}`);
  }
  const eosTokenIds = raw.eosTokenIds;
  if (!Array.isArray(eosTokenIds) || !eosTokenIds.every((id) => typeof id === "number" && Number.isSafeInteger(id) && id >= 0)) {
    throw fail("baseConfig.eosTokenIds", `eosTokenIds must be an array of token ids, got ${describe(eosTokenIds)}`);
  }

  const config: ModelConfig = {
    architecture: "llama",
    hiddenSize: integer("hiddenSize"),
    intermediateSize: integer("intermediateSize"),
    numLayers: integer("numLayers"),
    numHeads: integer("numHeads"),
    numKvHeads: integer("numKvHeads"),
    headDim: integer("headDim"),
    vocabSize: integer("vocabSize"),
    maxPositionEmbeddings: integer("maxPositionEmbeddings"),
    rmsNormEps: number(raw, "rmsNormEps", "baseConfig"),
    rope: {
      theta: number(rope, "theta", "baseConfig.rope"),
      scaling,
      rotaryDim: number(rope, "rotaryDim", "baseConfig.rope"),
      sourceLayout,
    },
    tieWordEmbeddings: raw.tieWordEmbeddings,
    bosTokenId,
    eosTokenIds: eosTokenIds as number[],
  };
  return validateModelConfig(config, file);
}

function parseScaling(
  value: unknown,
  number: (object: JsonObject, key: string, prefix: string) => number,
  fail: Fail,
): RopeScaling {
  const prefix = "baseConfig.rope.scaling";
  const scaling = expectObject(value, prefix, fail);
  switch (scaling.type) {
    case "none":
      return { type: "none" };
    case "linear":
      return { type: "linear", factor: number(scaling, "factor", prefix) };
    case "llama3":
      return {
        type: "llama3",
        factor: number(scaling, "factor", prefix),
        lowFreqFactor: number(scaling, "lowFreqFactor", prefix),
        highFreqFactor: number(scaling, "highFreqFactor", prefix),
        originalMaxPositionEmbeddings: number(scaling, "originalMaxPositionEmbeddings", prefix),
      };
    default:
      throw fail(`${prefix}.type`, `rope scaling type must be "none", "linear" or "llama3", got ${describe(scaling.type)}`);
  }
}

function parseElite(value: unknown, config: ModelConfig, file: string, fail: Fail): EliteKvManifestElite {
  const raw = expectObject(value, "elite", fail);
  const ropeChunksPerHead = raw.ropeChunksPerHead;
  if (typeof ropeChunksPerHead !== "number") {
    throw fail("elite.ropeChunksPerHead", `ropeChunksPerHead must be a number, got ${describe(ropeChunksPerHead)}`);
  }
  if (!Array.isArray(raw.layers)) throw fail("elite.layers", `elite.layers must be an array, got ${describe(raw.layers)}`);
  const frequencies = ropeInverseFrequencies(config.rope);

  const layers = raw.layers.map((entry, index): EliteKvManifestLayer => {
    const prefix = `elite.layers[${index}]`;
    const layer = expectObject(entry, prefix, fail);
    const ropeChunks = expectNumberMatrix(layer.ropeChunks, `${prefix}.ropeChunks`, fail);
    const ropeFrequencies = expectNumberMatrix(layer.ropeFrequencies, `${prefix}.ropeFrequencies`, fail);
    if (typeof layer.latentDim !== "number") throw fail(`${prefix}.latentDim`, `latentDim must be a number, got ${describe(layer.latentDim)}`);
    return { latentDim: layer.latentDim, ropeChunks, ropeFrequencies };
  });

  const elite: EliteKvManifestElite = { ropeChunksPerHead, latentDims: [], ratio: 0, layers };
  validateEliteKvConfig(config, eliteConfigOfManifest({ elite } as EliteKvManifest), file);

  // The frequencies are stored for readers that do not recompute them; they must match the base config.
  layers.forEach((layer, index) => {
    layer.ropeChunks.forEach((chunks, head) => {
      const stored = layer.ropeFrequencies[head];
      const field = `elite.layers[${index}].ropeFrequencies[${head}]`;
      if (stored === undefined || stored.length !== chunks.length) {
        throw fail(field, `expected ${chunks.length} frequencies, one per elite chunk, got ${stored?.length ?? "none"}`);
      }
      chunks.forEach((chunk, position) => {
        if (!closeTo(stored[position], frequencies[chunk])) {
          throw fail(field, `chunk ${chunk} has frequency ${frequencies[chunk]} under baseConfig.rope, but the file stores ${stored[position]}`);
        }
      });
    });
    if (layer.ropeFrequencies.length !== layer.ropeChunks.length) {
      throw fail(`elite.layers[${index}].ropeFrequencies`, `expected ${layer.ropeChunks.length} KV heads, got ${layer.ropeFrequencies.length}`);
    }
  });

  const latentDims = raw.latentDims;
  const expectedDims = layers.map((layer) => layer.latentDim);
  if (!Array.isArray(latentDims) || latentDims.length !== expectedDims.length || latentDims.some((dim, index) => dim !== expectedDims[index])) {
    throw fail("elite.latentDims", `latentDims must list each layer's latentDim [${expectedDims.join(", ")}], got ${describe(latentDims)}`);
  }

  const ratio = eliteKvRatio(config, eliteConfigOfManifest({ elite } as EliteKvManifest));
  if (typeof raw.ratio !== "number" || !closeTo(raw.ratio, ratio)) {
    throw fail("elite.ratio", `ratio must be ${ratio} for these layers, got ${describe(raw.ratio)}`);
  }
  return { ropeChunksPerHead, latentDims: expectedDims, ratio, layers };
}

function expectObject(value: unknown, field: string, fail: Fail): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw fail(field, `${field} must be a JSON object, got ${describe(value)}`);
  }
  return value as JsonObject;
}

function expectNumberMatrix(value: unknown, field: string, fail: Fail): number[][] {
  if (!Array.isArray(value) || !value.every((row) => Array.isArray(row) && row.every((item) => typeof item === "number"))) {
    throw fail(field, `${field} must be an array of number arrays, one per KV head, got ${describe(value)}`);
  }
  return value as number[][];
}

function closeTo(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= derivedTolerance * Math.max(Math.abs(expected), Number.MIN_VALUE);
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing (the field is missing)";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
