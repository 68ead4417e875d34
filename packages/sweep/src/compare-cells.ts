// The second sweep phase: convert the cells in passes of a bounded size and compare each pass's
// converted models with the base model in one run over the evaluation windows. A pass's converted
// weights and sessions are released before the next pass converts.
import type { LoadedModel, Matrix, MatmulProvider, ProgressEvent, ProgressListener } from "@elitekv/core";
import { convertModel } from "@elitekv/converter";
import { compareModelSet, type ModelPerplexity } from "@elitekv/eval";
import type { RankingStrategy, RopeliteRanking } from "@elitekv/ropelite";

import { sweepCellLabel, type SweepCell } from "./sweep-plan.js";
import { withBackendSessions, type SweepRuntime } from "./sweep-runtime.js";

/** Quality of one converted model against the base model on the evaluation ids. */
export interface SweepRow {
  strategy: RankingStrategy;
  svd: SweepCell["svd"];
  /** The requested cache ratio. */
  ratio: number;
  /** The ratio (2·G·r + d_c) / (2·G·h) that the resolved target achieves. */
  cacheRatio: number;
  ropeChunks: number;
  latentDim: number;
  ppl: number;
  /** Mean NLL in nats per token. */
  meanNll: number;
  /** 100 · (ppl / base ppl − 1). */
  pplIncreasePct: number;
  /** Mean KL(base ‖ model) over predicted positions, in nats. */
  klDivergence: number;
  /** Fraction of predicted positions where both models pick the same top token. */
  top1Agreement: number;
  /** Mean over layers of ‖W_kv − A B‖_F / ‖W_kv‖_F. */
  meanWeightRelativeError: number;
}

export interface ComparePhaseRequest {
  model: LoadedModel;
  cells: readonly SweepCell[];
  /** Rankings by strategy. */
  rankings: ReadonlyMap<RankingStrategy, RopeliteRanking>;
  covariances: Matrix[] | undefined;
  evaluation: { ids: readonly number[]; window: number };
  modelsPerPass: number;
  runtime: SweepRuntime;
  onProgress: ProgressListener;
}

export interface ComparePhaseResult {
  base: ModelPerplexity;
  /** One row per cell, in the order of `cells`. */
  rows: SweepRow[];
  windows: number;
  scoredTokens: number;
  passes: number;
  convertSeconds: number;
  compareSeconds: number;
}

const convertTask = "convert";
const compareTask = "compare";

/**
 * Converts and compares every cell. The base model runs once per window in each pass. Reports one
 * "convert" task that counts models and one "compare" task that counts windows over all passes, whose
 * metrics carry the base perplexity and each model's ppl, KL and top-1 agreement so far.
 */
export async function compareCells(request: ComparePhaseRequest): Promise<ComparePhaseResult> {
  const { model, cells, evaluation, onProgress } = request;
  const passes: SweepCell[][] = [];
  for (let start = 0; start < cells.length; start += request.modelsPerPass) passes.push(cells.slice(start, start + request.modelsPerPass));
  const windows = Math.floor(evaluation.ids.length / evaluation.window);

  onProgress({ type: "start", task: convertTask, total: cells.length, unit: "models" });
  onProgress({ type: "start", task: compareTask, total: passes.length * windows, unit: "windows" });

  const rows: SweepRow[] = [];
  let base: ModelPerplexity | undefined;
  let scoredTokens = 0;
  let convertSeconds = 0;
  let compareSeconds = 0;
  for (const [passIndex, pass] of passes.entries()) {
    const convertStarted = performance.now();
    const converted: { model: LoadedModel; meanWeightRelativeError: number }[] = [];
    for (const cell of pass) {
      converted.push(await convertCell(model, cell, request));
      onProgress({
        type: "advance",
        task: convertTask,
        current: rows.length + converted.length,
        total: cells.length,
        unit: "models",
        message: sweepCellLabel(cell),
        metrics: { meanWeightRelativeError: converted[converted.length - 1].meanWeightRelativeError },
      });
    }
    convertSeconds += (performance.now() - convertStarted) / 1000;

    const compareStarted = performance.now();
    const models = [model, ...converted.map((entry) => entry.model)];
    const comparisons = await withBackendSessions(request.runtime, models, evaluation.window, ([baseSession, ...modelSessions]) =>
      compareModelSet(baseSession, modelSessions, evaluation.ids, {
        window: evaluation.window,
        onProgress: windowProgress(onProgress, pass, passIndex * windows, passes.length * windows),
      }),
    );
    compareSeconds += (performance.now() - compareStarted) / 1000;

    // Every pass scores the base on the same windows; the first pass's numbers are reported.
    base ??= comparisons[0].base;
    scoredTokens = comparisons[0].tokens;
    comparisons.forEach((comparison, index) => {
      const cell = pass[index];
      // A terminal cuts the long metrics line of the compare bar, so each finished model also gets a line.
      onProgress({
        type: "info",
        task: compareTask,
        message:
          `${sweepCellLabel(cell)}: ppl ${comparison.model.ppl.toFixed(4)} (base ${base!.ppl.toFixed(4)}), ` +
          `KL ${comparison.klDivergence.toExponential(3)} nats/token, top-1 ${(100 * comparison.top1Agreement).toFixed(2)}%`,
      });
      rows.push({
        strategy: cell.strategy,
        svd: cell.svd,
        ratio: cell.ratio,
        cacheRatio: cell.target.ratio,
        ropeChunks: cell.target.ropeChunks,
        latentDim: cell.target.latentDim,
        ppl: comparison.model.ppl,
        meanNll: comparison.model.meanNll,
        pplIncreasePct: 100 * (comparison.model.ppl / base!.ppl - 1),
        klDivergence: comparison.klDivergence,
        top1Agreement: comparison.top1Agreement,
        meanWeightRelativeError: converted[index].meanWeightRelativeError,
      });
    });
  }

  onProgress({ type: "end", task: convertTask, seconds: convertSeconds });
  onProgress({ type: "end", task: compareTask, seconds: compareSeconds });
  if (base === undefined) throw new Error("Internal error: compareCells ran no pass; planSweepCells rejects an empty grid");
  return { base, rows, windows, scoredTokens, passes: passes.length, convertSeconds, compareSeconds };
}

async function convertCell(
  model: LoadedModel,
  cell: SweepCell,
  request: { rankings: ReadonlyMap<RankingStrategy, RopeliteRanking>; covariances: Matrix[] | undefined; runtime: { matmul?: MatmulProvider } },
): Promise<{ model: LoadedModel; meanWeightRelativeError: number }> {
  const ranking = request.rankings.get(cell.strategy);
  if (ranking === undefined) throw new Error(`Internal error: no ranking for strategy ${cell.strategy} in compareCells`);

  const target = { ropeChunks: cell.target.ropeChunks, latentDim: cell.target.latentDim };
  const converted = await convertModel(model, ranking, target, {
    svd: cell.svd,
    // The weight SVD reads no covariances; passing them would only add activation errors to the report.
    covariances: cell.svd === "activation" ? request.covariances : undefined,
    matmul: request.runtime.matmul,
  });
  const errors = converted.report.map((entry) => entry.weightRelativeError);
  const meanWeightRelativeError = errors.reduce((sum, value) => sum + value, 0) / errors.length;
  const source = { ...model.source, path: `${model.source.path} (EliteKV ${sweepCellLabel(cell)})` };
  return { model: { ...model, weights: converted.weights, elite: converted.elite, source }, meanWeightRelativeError };
}

/**
 * Returns a listener that turns compareModelSet's per-window progress of one pass into advances of the
 * shared "compare" task. Its metrics name each model by its cell label instead of its index in the pass.
 */
function windowProgress(onProgress: ProgressListener, pass: readonly SweepCell[], offset: number, total: number): ProgressListener {
  return (event: ProgressEvent) => {
    if (event.type === "info") onProgress(event);
    if (event.type !== "advance") return;

    const metrics: Record<string, number> = {};
    const source = event.metrics ?? {};
    if (source.basePpl !== undefined) metrics.basePpl = source.basePpl;
    pass.forEach((cell, index) => {
      const suffix = pass.length === 1 ? "" : String(index);
      const label = sweepCellLabel(cell);
      metrics[`ppl ${label}`] = source[`modelPpl${suffix}`];
      metrics[`kl ${label}`] = source[`klDivergence${suffix}`];
      metrics[`top1 ${label}`] = source[`top1Agreement${suffix}`];
    });
    onProgress({ type: "advance", task: compareTask, current: offset + event.current, total, unit: "windows", metrics });
  };
}
