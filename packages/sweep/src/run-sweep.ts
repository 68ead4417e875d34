// The compression quality sweep: rank the chunks once per strategy, collect covariances once, then
// convert every (strategy, SVD mode, ratio) cell in memory and compare it with the base model.
import { InvalidArgumentError, silentProgress, type LoadedModel, type ProgressListener } from "@elitekv/core";
import type { ModelPerplexity } from "@elitekv/eval";
import { fingerprintModelFiles, type RankingStrategy, type RopeliteRanking } from "@elitekv/ropelite";

import { compareCells, type SweepRow } from "./compare-cells.js";
import { defaultSessionMemoryBudget, modelsPerPass } from "./models-per-pass.js";
import { rankStrategies } from "./rank-strategies.js";
import { planSweepCells, type SweepGrid } from "./sweep-plan.js";
import type { SweepRuntime } from "./sweep-runtime.js";

export interface SweepCalibration {
  /** Calibration ids, BOS first. Used for the rankings and the covariances. */
  ids: readonly number[];
  /** Label of the calibration text, stored in the rankings. */
  label: string;
  /** Ids per ranking window (L). */
  seqLen: number;
  /** Causal pairs sampled per ranking window. */
  pairs: number;
  /** Unsigned 32-bit seed of the window and pair sampling. */
  seed: number;
}

export interface SweepEvaluation {
  /** Evaluation ids, BOS first, cut into non-overlapping windows; a final partial window is dropped. */
  ids: readonly number[];
  window: number;
}

export interface SweepRequest {
  /** The base model. */
  model: LoadedModel;
  grid: SweepGrid;
  calibration: SweepCalibration;
  evaluation: SweepEvaluation;
  runtime: SweepRuntime;
  /** Converted models per comparison pass; derived from `sessionMemoryBudgetBytes` when omitted. */
  modelsPerPass?: number;
  /** Memory for the sessions of one pass, in bytes; defaults to half the machine's memory. */
  sessionMemoryBudgetBytes?: number;
  /** sha256 stored in the rankings; fingerprintModelFiles(model.source.files) when omitted. */
  fingerprint?: string;
  onProgress?: ProgressListener;
}

export interface SweepTimings {
  rankSeconds: number;
  covarianceSeconds: number;
  convertSeconds: number;
  compareSeconds: number;
  totalSeconds: number;
}

export interface SweepResult {
  fingerprint: string;
  /** One ranking per strategy, in the order of `grid.strategies`. */
  rankings: RopeliteRanking[];
  base: ModelPerplexity;
  /** One row per cell, in the order strategy, SVD mode, ratio of the grid. */
  rows: SweepRow[];
  calibration: { tokens: number; seqLen: number; windows: number; pairs: number; seed: number };
  evaluation: { tokens: number; scoredTokens: number; windows: number; window: number };
  modelsPerPass: number;
  passes: number;
  timings: SweepTimings;
}

/**
 * Runs the sweep. Throws InvalidArgumentError before any model runs for an already converted model, a
 * bad grid (see planSweepCells), a window or sequence length beyond the model's context, and
 * calibration or evaluation ids shorter than one window.
 */
export async function runSweep(request: SweepRequest): Promise<SweepResult> {
  const started = performance.now();
  const onProgress = request.onProgress ?? silentProgress;
  const { model, grid, calibration, evaluation } = request;
  validateSweepRequest(request);
  const cells = planSweepCells(model.config, grid);

  const perPass = request.modelsPerPass ?? modelsPerPass(model, request.sessionMemoryBudgetBytes ?? defaultSessionMemoryBudget(), cells.length);
  if (!Number.isSafeInteger(perPass) || perPass < 1) {
    throw new InvalidArgumentError(`modelsPerPass must be a positive integer, got ${perPass}`, { field: "modelsPerPass" });
  }
  const passCount = Math.ceil(cells.length / perPass);
  onProgress({
    type: "info",
    task: "sweep",
    message: `${cells.length} conversions (${grid.strategies.length} strategies × ${grid.svdModes.length} SVD modes × ${grid.ratios.length} ratios) compared in ${passCount} ${passCount === 1 ? "pass" : "passes"} of up to ${perPass}`,
  });

  const fingerprint = request.fingerprint ?? (await fingerprintModelFiles(model.source.files));
  const ranked = await rankStrategies({
    model,
    strategies: grid.strategies,
    calibration,
    covariances: grid.svdModes.includes("activation"),
    fingerprint,
    runtime: request.runtime,
    onProgress,
  });

  const rankings = new Map<RankingStrategy, RopeliteRanking>(grid.strategies.map((strategy, index) => [strategy, ranked.rankings[index]]));
  const compared = await compareCells({
    model,
    cells,
    rankings,
    covariances: ranked.covariances,
    evaluation,
    modelsPerPass: perPass,
    runtime: request.runtime,
    onProgress,
  });

  return {
    fingerprint,
    rankings: ranked.rankings,
    base: compared.base,
    rows: compared.rows,
    calibration: {
      tokens: calibration.ids.length,
      seqLen: calibration.seqLen,
      windows: Math.ceil(calibration.ids.length / calibration.seqLen),
      pairs: calibration.pairs,
      seed: calibration.seed,
    },
    evaluation: { tokens: evaluation.ids.length, scoredTokens: compared.scoredTokens, windows: compared.windows, window: evaluation.window },
    modelsPerPass: perPass,
    passes: compared.passes,
    timings: {
      rankSeconds: ranked.rankSeconds,
      covarianceSeconds: ranked.covarianceSeconds,
      convertSeconds: compared.convertSeconds,
      compareSeconds: compared.compareSeconds,
      totalSeconds: (performance.now() - started) / 1000,
    },
  };
}

function validateSweepRequest(request: SweepRequest): void {
  const { model, calibration, evaluation } = request;
  const contextLength = model.config.maxPositionEmbeddings;
  if (model.elite !== undefined) {
    throw new InvalidArgumentError(`${model.source.path} is already converted to EliteKV; sweep its base model instead`, { field: "model" });
  }

  if (!Number.isSafeInteger(evaluation.window) || evaluation.window < 2 || evaluation.window > contextLength) {
    throw new InvalidArgumentError(
      `the evaluation window must be an integer in 2..${contextLength} (the context length of ${model.source.path}), got ${evaluation.window}`,
      { field: "evaluation.window" },
    );
  }
  if (evaluation.ids.length < evaluation.window) {
    throw new InvalidArgumentError(
      `the evaluation text has ${evaluation.ids.length} tokens, fewer than one window of ${evaluation.window}; use more text or a shorter window`,
      { field: "evaluation.ids" },
    );
  }

  if (!Number.isSafeInteger(calibration.seqLen) || calibration.seqLen < 1 || calibration.seqLen > contextLength) {
    throw new InvalidArgumentError(
      `the calibration sequence length must be an integer in 1..${contextLength} (the context length of ${model.source.path}), got ${calibration.seqLen}`,
      { field: "calibration.seqLen" },
    );
  }
  if (calibration.ids.length < calibration.seqLen) {
    throw new InvalidArgumentError(
      `the calibration text has ${calibration.ids.length} tokens, fewer than one window of ${calibration.seqLen}; use more text or a shorter sequence length`,
      { field: "calibration.ids" },
    );
  }
}
