// The sweep report (report.json): the model, the calibration and evaluation texts, the base perplexity
// and one row of quality metrics per conversion, sorted by ratio (largest first), strategy and SVD mode.
import type { LoadedModel } from "@elitekv/core";
import type { SvdMode } from "@elitekv/converter";
import type { RankingStrategy } from "@elitekv/ropelite";

import type { SweepResult, SweepTimings } from "./run-sweep.js";

export const sweepReportSchemaVersion = 1;

export interface SweepModelSummary {
  layers: number;
  hiddenSize: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
  /** Maximum context length in tokens. */
  contextLength: number;
  ropeTheta: number;
}

export interface SweepReportRow {
  /** The requested cache ratio. */
  ratio: number;
  /** The ratio (2·G·r + d_c) / (2·G·h) that ropeChunks and latentDim achieve. */
  cacheRatio: number;
  strategy: RankingStrategy;
  svd: SvdMode;
  /** Rotated chunks kept per KV head (r). */
  ropeChunks: number;
  /** Width of the shared key/value latent (d_c). */
  latentDim: number;
  ppl: number;
  /** 100 · (ppl / base ppl − 1). */
  pplIncreasePct: number;
  /** Mean KL(base ‖ model) over predicted positions, in nats. */
  klDivergence: number;
  /** Fraction of predicted positions where both models pick the same top token, in [0, 1]. */
  top1Agreement: number;
  /** Mean over layers of ‖W_kv − A B‖_F / ‖W_kv‖_F. */
  meanWeightRelativeError: number;
}

export interface SweepReport {
  schemaVersion: 1;
  model: { path: string; fingerprint: string; config: SweepModelSummary };
  /** Name of the backend that ran the models. */
  backend: string;
  calibration: {
    /** Label of the calibration source. */
    text: string;
    /** Characters of the source skipped before the calibration text starts. */
    skipChars: number;
    /** Calibration ids, BOS included. */
    tokens: number;
    /** Ids per ranking window. */
    seqLen: number;
    windows: number;
    pairs: number;
    seed: number;
  };
  evaluation: {
    text: string;
    /** Evaluation ids, BOS included. */
    tokens: number;
    /** Predicted positions: windows × (window − 1). */
    scoredTokens: number;
    windows: number;
    window: number;
  };
  base: { ppl: number; meanNll: number };
  rows: SweepReportRow[];
  timings: SweepTimings;
  /** Converted models per comparison pass, and the number of passes. */
  passes: { modelsPerPass: number; count: number };
  /** Files written next to report.json, relative to it. */
  files: { markdown: string; plots: string[]; rankings: string[] };
  /** The command line that produced the report, when it came from the CLI. */
  command?: string;
}

export interface SweepReportContext {
  model: LoadedModel;
  backend: string;
  calibrationText: string;
  skipChars: number;
  evaluationText: string;
  files: SweepReport["files"];
  command?: string;
}

/** Builds the report of a sweep result; rows are sorted with compareReportRows. */
export function buildSweepReport(result: SweepResult, context: SweepReportContext): SweepReport {
  const { config } = context.model;
  const rows: SweepReportRow[] = result.rows.map((row) => ({
    ratio: row.ratio,
    cacheRatio: row.cacheRatio,
    strategy: row.strategy,
    svd: row.svd,
    ropeChunks: row.ropeChunks,
    latentDim: row.latentDim,
    ppl: row.ppl,
    pplIncreasePct: row.pplIncreasePct,
    klDivergence: row.klDivergence,
    top1Agreement: row.top1Agreement,
    meanWeightRelativeError: row.meanWeightRelativeError,
  }));

  const report: SweepReport = {
    schemaVersion: sweepReportSchemaVersion,
    model: {
      path: context.model.source.path,
      fingerprint: result.fingerprint,
      config: {
        layers: config.numLayers,
        hiddenSize: config.hiddenSize,
        heads: config.numHeads,
        kvHeads: config.numKvHeads,
        headDim: config.headDim,
        vocabSize: config.vocabSize,
        contextLength: config.maxPositionEmbeddings,
        ropeTheta: config.rope.theta,
      },
    },
    backend: context.backend,
    calibration: { text: context.calibrationText, skipChars: context.skipChars, ...result.calibration },
    evaluation: { text: context.evaluationText, ...result.evaluation },
    base: { ppl: result.base.ppl, meanNll: result.base.meanNll },
    rows: rows.sort(compareReportRows),
    timings: result.timings,
    passes: { modelsPerPass: result.modelsPerPass, count: result.passes },
    files: context.files,
  };
  if (context.command !== undefined) report.command = context.command;
  return report;
}

/** Orders rows by requested ratio, largest first, then by strategy and SVD mode name. */
export function compareReportRows(a: SweepReportRow, b: SweepReportRow): number {
  if (a.ratio !== b.ratio) return b.ratio - a.ratio;
  if (a.strategy !== b.strategy) return a.strategy < b.strategy ? -1 : 1;
  if (a.svd !== b.svd) return a.svd < b.svd ? -1 : 1;
  return 0;
}
