// Validation of report.json: every field's type and range, and the facts that tie fields together
// (cache ratio from r and d_c, ppl increase from both perplexities, scored tokens from the windows).
// Errors name the first bad field.
import { readFile } from "node:fs/promises";

import { CorruptFileError, FileNotFoundError, UnsupportedVersionError } from "@elitekv/core";
import { rankingStrategies } from "@elitekv/ropelite";

import { svdModes } from "./sweep-plan.js";
import { compareReportRows, sweepReportSchemaVersion, type SweepReport, type SweepReportRow } from "./sweep-report.js";

type Fail = (field: string, problem: string) => never;
type Fields = Record<string, unknown>;

// Derived fields are recomputed from their inputs and compared with this relative tolerance, which
// allows for the decimal round trip of JSON and nothing more.
const relativeTolerance = 1e-9;

/**
 * Checks a parsed report against the schema and returns it typed. Throws CorruptFileError naming the
 * first bad field, or UnsupportedVersionError for another schema version. `file` only labels the message.
 */
export function validateSweepReport(value: unknown, file: string): SweepReport {
  const fail: Fail = (field, problem) => {
    throw new CorruptFileError(`${problem}; run elitekv sweep again to rewrite the report`, { file, field });
  };

  const root = requireObject(value, "(root)", fail);
  if (root.schemaVersion !== sweepReportSchemaVersion) {
    if (typeof root.schemaVersion === "number") {
      throw new UnsupportedVersionError(
        `schemaVersion ${root.schemaVersion} is not supported because this build reads version ${sweepReportSchemaVersion}; run the sweep again with this build`,
        { file, field: "schemaVersion" },
      );
    }
    fail("schemaVersion", `expected the number ${sweepReportSchemaVersion}, got ${describe(root.schemaVersion)}`);
  }

  const headDim = validateModel(root.model, fail);
  requireString(root.backend, "backend", fail, true);
  validateCalibration(root.calibration, fail);
  validateEvaluation(root.evaluation, fail);

  const base = requireObject(root.base, "base", fail);
  const basePpl = requirePositive(base.ppl, "base.ppl", fail);
  const meanNll = requireFinite(base.meanNll, "base.meanNll", fail);
  if (!isClose(basePpl, Math.exp(meanNll))) fail("base.ppl", `expected exp(base.meanNll) = ${Math.exp(meanNll)}, got ${basePpl}`);

  const kvHeads = (root.model as { config: { kvHeads: number } }).config.kvHeads;
  validateRows(root.rows, { basePpl, kvHeads, headDim }, fail);

  const timings = requireObject(root.timings, "timings", fail);
  for (const key of ["rankSeconds", "covarianceSeconds", "convertSeconds", "compareSeconds", "totalSeconds"]) {
    const seconds = requireFinite(timings[key], `timings.${key}`, fail);
    if (seconds < 0) fail(`timings.${key}`, `expected a duration >= 0 seconds, got ${seconds}`);
  }

  const passes = requireObject(root.passes, "passes", fail);
  requireInteger(passes.modelsPerPass, "passes.modelsPerPass", 1, fail);
  requireInteger(passes.count, "passes.count", 1, fail);

  const files = requireObject(root.files, "files", fail);
  requireFileName(files.markdown, "files.markdown", fail);
  for (const key of ["plots", "rankings"]) {
    const names = files[key];
    if (!Array.isArray(names)) fail(`files.${key}`, `expected an array of file names, got ${describe(names)}`);
    (names as unknown[]).forEach((name, index) => requireFileName(name, `files.${key}[${index}]`, fail));
  }

  if (root.command !== undefined) requireString(root.command, "command", fail, true);
  return value as SweepReport;
}

/** Reads and validates a report.json file. */
export async function readSweepReport(path: string): Promise<SweepReport> {
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
    throw new CorruptFileError(`invalid JSON (${(error as Error).message}); run elitekv sweep again to rewrite the report`, {
      file: path,
      cause: error,
    });
  }
  return validateSweepReport(parsed, path);
}

/** Validates the model section and returns the head dim. */
function validateModel(value: unknown, fail: Fail): number {
  const model = requireObject(value, "model", fail);
  requireString(model.path, "model.path", fail, true);
  if (typeof model.fingerprint !== "string" || !/^[0-9a-f]{64}$/.test(model.fingerprint)) {
    fail("model.fingerprint", `expected 64 lowercase hex digits, got ${describe(model.fingerprint)}`);
  }

  const config = requireObject(model.config, "model.config", fail);
  for (const key of ["layers", "hiddenSize", "heads", "kvHeads", "vocabSize", "contextLength"]) {
    requireInteger(config[key], `model.config.${key}`, 1, fail);
  }
  const headDim = requireInteger(config.headDim, "model.config.headDim", 2, fail);
  if (headDim % 2 !== 0) fail("model.config.headDim", `expected an even head dim, got ${headDim}`);
  if ((config.heads as number) % (config.kvHeads as number) !== 0) {
    fail("model.config.kvHeads", `heads ${String(config.heads)} is not a multiple of kvHeads ${String(config.kvHeads)}`);
  }
  requirePositive(config.ropeTheta, "model.config.ropeTheta", fail);
  return headDim;
}

function validateCalibration(value: unknown, fail: Fail): void {
  const calibration = requireObject(value, "calibration", fail);
  requireString(calibration.text, "calibration.text", fail, false);
  requireInteger(calibration.skipChars, "calibration.skipChars", 0, fail);
  const tokens = requireInteger(calibration.tokens, "calibration.tokens", 1, fail);
  const seqLen = requireInteger(calibration.seqLen, "calibration.seqLen", 1, fail);
  const windows = requireInteger(calibration.windows, "calibration.windows", 1, fail);
  if (windows !== Math.ceil(tokens / seqLen)) {
    fail("calibration.windows", `expected ceil(tokens / seqLen) = ${Math.ceil(tokens / seqLen)}, got ${windows}`);
  }
  requireInteger(calibration.pairs, "calibration.pairs", 1, fail);
  const seed = requireInteger(calibration.seed, "calibration.seed", 0, fail);
  if (seed > 0xffffffff) fail("calibration.seed", `expected a seed below 2^32, got ${seed}`);
}

function validateEvaluation(value: unknown, fail: Fail): void {
  const evaluation = requireObject(value, "evaluation", fail);
  requireString(evaluation.text, "evaluation.text", fail, false);
  const tokens = requireInteger(evaluation.tokens, "evaluation.tokens", 2, fail);
  const window = requireInteger(evaluation.window, "evaluation.window", 2, fail);
  const windows = requireInteger(evaluation.windows, "evaluation.windows", 1, fail);
  if (windows !== Math.floor(tokens / window)) {
    fail("evaluation.windows", `expected floor(tokens / window) = ${Math.floor(tokens / window)}, got ${windows}`);
  }
  const scored = requireInteger(evaluation.scoredTokens, "evaluation.scoredTokens", 1, fail);
  if (scored !== windows * (window - 1)) {
    fail("evaluation.scoredTokens", `expected windows × (window − 1) = ${windows * (window - 1)}, got ${scored}`);
  }
}

function validateRows(value: unknown, model: { basePpl: number; kvHeads: number; headDim: number }, fail: Fail): void {
  if (!Array.isArray(value) || value.length === 0) fail("rows", `expected a non-empty array, got ${describeLength(value)}`);
  const rows = value as unknown[];
  const seen = new Set<string>();

  rows.forEach((rowValue, index) => {
    const field = `rows[${index}]`;
    const row = requireObject(rowValue, field, fail);

    const ratio = requireFinite(row.ratio, `${field}.ratio`, fail);
    if (!(ratio > 0 && ratio <= 1)) fail(`${field}.ratio`, `expected a ratio in (0, 1], got ${ratio}`);
    if (typeof row.strategy !== "string" || !(rankingStrategies as readonly string[]).includes(row.strategy)) {
      fail(`${field}.strategy`, `expected one of ${rankingStrategies.join(", ")}, got ${describe(row.strategy)}`);
    }
    if (typeof row.svd !== "string" || !(svdModes as readonly string[]).includes(row.svd)) {
      fail(`${field}.svd`, `expected one of ${svdModes.join(", ")}, got ${describe(row.svd)}`);
    }
    const key = `${String(row.strategy)}/${String(row.svd)}/${ratio}`;
    if (seen.has(key)) fail(field, `repeats the row ${key}`);
    seen.add(key);

    const ropeChunks = requireInteger(row.ropeChunks, `${field}.ropeChunks`, 0, fail);
    if (ropeChunks > model.headDim / 2) fail(`${field}.ropeChunks`, `expected at most headDim / 2 = ${model.headDim / 2}, got ${ropeChunks}`);
    const latentDim = requireInteger(row.latentDim, `${field}.latentDim`, 1, fail);
    const cacheRatio = requireFinite(row.cacheRatio, `${field}.cacheRatio`, fail);
    const expectedRatio = (2 * model.kvHeads * ropeChunks + latentDim) / (2 * model.kvHeads * model.headDim);
    if (!isClose(cacheRatio, expectedRatio)) {
      fail(`${field}.cacheRatio`, `expected (2·G·r + d_c) / (2·G·h) = ${expectedRatio} for r = ${ropeChunks} and d_c = ${latentDim}, got ${cacheRatio}`);
    }

    const ppl = requirePositive(row.ppl, `${field}.ppl`, fail);
    const increase = requireFinite(row.pplIncreasePct, `${field}.pplIncreasePct`, fail);
    const expectedIncrease = 100 * (ppl / model.basePpl - 1);
    if (!isClose(increase, expectedIncrease)) {
      fail(`${field}.pplIncreasePct`, `expected 100 · (ppl / base.ppl − 1) = ${expectedIncrease}, got ${increase}`);
    }
    const kl = requireFinite(row.klDivergence, `${field}.klDivergence`, fail);
    if (kl < 0) fail(`${field}.klDivergence`, `expected a divergence >= 0 nats, got ${kl}`);
    const agreement = requireFinite(row.top1Agreement, `${field}.top1Agreement`, fail);
    if (agreement < 0 || agreement > 1) fail(`${field}.top1Agreement`, `expected a fraction in [0, 1], got ${agreement}`);
    const error = requireFinite(row.meanWeightRelativeError, `${field}.meanWeightRelativeError`, fail);
    if (error < 0) fail(`${field}.meanWeightRelativeError`, `expected a relative error >= 0, got ${error}`);

    if (index > 0 && compareReportRows(rows[index - 1] as SweepReportRow, row as unknown as SweepReportRow) > 0) {
      fail(field, "rows are out of order; expected them sorted by ratio (largest first), then strategy, then svd");
    }
  });
}

function requireObject(value: unknown, field: string, fail: Fail): Fields {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(field, `expected an object, got ${describe(value)}`);
  return value as Fields;
}

function requireString(value: unknown, field: string, fail: Fail, nonEmpty: boolean): string {
  if (typeof value !== "string" || (nonEmpty && value === "")) {
    fail(field, `expected a ${nonEmpty ? "non-empty " : ""}string, got ${describe(value)}`);
  }
  return value as string;
}

/** Requires a bare file name, so that a report never points outside its own folder. */
function requireFileName(value: unknown, field: string, fail: Fail): void {
  const name = requireString(value, field, fail, true);
  if (name.includes("/") || name.includes("\\") || name === "." || name === "..") {
    fail(field, `expected a file name inside the report folder, got ${describe(name)}`);
  }
}

function requireInteger(value: unknown, field: string, minimum: number, fail: Fail): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < minimum) fail(field, `expected an integer >= ${minimum}, got ${describe(value)}`);
  return value as number;
}

function requireFinite(value: unknown, field: string, fail: Fail): number {
  if (typeof value !== "number" || !Number.isFinite(value)) fail(field, `expected a finite number, got ${describe(value)}`);
  return value as number;
}

function requirePositive(value: unknown, field: string, fail: Fail): number {
  const number = requireFinite(value, field, fail);
  if (!(number > 0)) fail(field, `expected a positive number, got ${number}`);
  return number;
}

function isClose(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= relativeTolerance * Math.max(1, Math.abs(expected));
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

function describeLength(value: unknown): string {
  return Array.isArray(value) ? `${value.length} entries` : describe(value);
}
