// The published summary of a sweep: a results page in markdown (best cell per ratio, every cell, how
// RoPElite ranks against the other strategies, activation-aware against weight SVD) and the rows as JSON.
import type { SvdMode } from "@elitekv/converter";

import type { SweepReport, SweepReportRow } from "./sweep-report.js";

/** The report row fields published in the results JSON, in their order there. */
const resultsRowFields = ["ratio", "strategy", "svd", "ropeChunks", "latentDim", "ppl", "pplIncreasePct", "klDivergence", "top1Agreement"] as const;

/** One cell's quality, as published in the results JSON. */
export type ResultsRow = Pick<SweepReportRow, (typeof resultsRowFields)[number]>;

/** The results JSON: the setup of the sweep and one row per cell, in the report's order. */
export interface ResultsDocument {
  model: string;
  command?: string;
  calibration: SweepReport["calibration"];
  evaluation: SweepReport["evaluation"];
  base: SweepReport["base"];
  rows: ResultsRow[];
}

export interface ResultsPageOptions {
  /** The page title, without the leading "#". */
  title: string;
  /** Link to the sweep's own folder (report.md, plots, rankings), relative to the page. */
  reportFolder: string;
  /** Link to the results JSON, relative to the page. */
  rowsFile: string;
  /** Markdown placed after the tables, such as extra measurements or remarks. */
  notes?: string;
}

/** Returns the results JSON of a sweep report. */
export function resultsDocument(report: SweepReport): ResultsDocument {
  return {
    model: report.model.path,
    ...(report.command === undefined ? {} : { command: report.command }),
    calibration: report.calibration,
    evaluation: report.evaluation,
    base: report.base,
    rows: report.rows.map(resultsRow),
  };
}

/** One (ratio, SVD mode) pair and whether RoPElite had the lowest perplexity in it. */
export interface RopeliteComparison {
  ratio: number;
  svd: SvdMode;
  /** The cell with the lowest perplexity among all strategies of this pair. */
  best: SweepReportRow;
  ropelite: SweepReportRow;
  /** Strategies other than RoPElite with a lower perplexity, lowest first. */
  beatenBy: SweepReportRow[];
}

/** Returns, per (ratio, SVD mode) pair that has a RoPElite cell and another strategy, how RoPElite ranks. */
export function ropeliteComparisons(report: SweepReport): RopeliteComparison[] {
  const comparisons: RopeliteComparison[] = [];
  for (const ratio of ratios(report)) {
    for (const svd of distinct(report.rows.map((row) => row.svd)).sort()) {
      const cells = report.rows.filter((row) => row.ratio === ratio && row.svd === svd).sort((a, b) => a.ppl - b.ppl);
      const ropelite = cells.find((row) => row.strategy === "ropelite");
      if (ropelite === undefined || cells.length < 2) continue;

      const beatenBy = cells.filter((row) => row.strategy !== "ropelite" && row.ppl < ropelite.ppl);
      comparisons.push({ ratio, svd, best: cells[0], ropelite, beatenBy });
    }
  }
  return comparisons;
}

/** The RoPElite cells of one ratio with the activation-aware and the weight SVD, side by side. */
export interface SvdComparison {
  ratio: number;
  activation: SweepReportRow;
  weight: SweepReportRow;
}

/** Returns, per ratio (largest first), the RoPElite cells of both SVD modes when the report has both. */
export function svdComparisons(report: SweepReport): SvdComparison[] {
  const comparisons: SvdComparison[] = [];
  for (const ratio of ratios(report)) {
    const find = (svd: SvdMode) => report.rows.find((row) => row.ratio === ratio && row.strategy === "ropelite" && row.svd === svd);
    const activation = find("activation");
    const weight = find("weight");
    if (activation !== undefined && weight !== undefined) comparisons.push({ ratio, activation, weight });
  }
  return comparisons;
}

/** Renders the results page of a sweep report. */
export function renderResultsPage(report: SweepReport, options: ResultsPageOptions): string {
  const { base, evaluation, calibration } = report;
  const lines: string[] = [`# ${options.title}`, ""];
  lines.push(
    `Base perplexity ${base.ppl.toFixed(4)} on ${evaluation.text} (${evaluation.scoredTokens} scored tokens, ` +
      `${evaluation.windows} windows of ${evaluation.window}). Calibration: ${calibration.text}. No recovery training.`,
    "",
  );

  lines.push("Best cell per ratio:", "", ...tableHeader());
  for (const ratio of ratios(report)) lines.push(tableLine(cellsOf(report, ratio)[0], false));
  lines.push("");

  const comparisons = ropeliteComparisons(report);
  if (comparisons.length > 0) {
    const lowest = comparisons.filter((comparison) => comparison.beatenBy.length === 0).length;
    lines.push(`RoPElite has the lowest perplexity in ${lowest} of ${comparisons.length} (ratio, SVD) pairs.`);
    for (const comparison of comparisons.filter((entry) => entry.beatenBy.length > 0)) {
      const others = comparison.beatenBy.map((row) => `${row.strategy} ${row.ppl.toFixed(2)}`).join(", ");
      lines.push(`At ratio ${comparison.ratio} with the ${comparison.svd} SVD it has ${comparison.ropelite.ppl.toFixed(2)}, above ${others}.`);
    }
    lines.push("");
  }

  const svds = svdComparisons(report);
  if (svds.length > 0) {
    lines.push("PPL increase with the RoPElite ranking, activation-aware against weight SVD:", "");
    for (const { ratio, activation, weight } of svds) {
      lines.push(`- ratio ${ratio}: ${percent(activation.pplIncreasePct)} against ${percent(weight.pplIncreasePct)} (${increaseFactor(activation, weight)})`);
    }
    lines.push("");
  }

  lines.push("Every cell, by ratio (lowest PPL of each ratio in bold):", "", ...tableHeader());
  for (const ratio of ratios(report)) {
    cellsOf(report, ratio).forEach((row, index) => lines.push(tableLine(row, index === 0)));
  }
  lines.push("", "r is the number of rotated chunks kept per KV head and d_c the width of the shared key/value latent.", "");

  if (options.notes !== undefined && options.notes.trim() !== "") lines.push(options.notes.trim(), "");

  lines.push(
    `The plots (perplexity, KL and top-1 agreement against the ratio, elite chunks per layer, the RoPElite objective ` +
      `per round) and the rankings: [${options.reportFolder}/report.md](${encodeURI(options.reportFolder)}/report.md). ` +
      `Rows as JSON: [${options.rowsFile}](${encodeURI(options.rowsFile)}).`,
    "",
  );
  if (report.command !== undefined) {
    lines.push("Command (from a checkout of this repository, run it as `pnpm --silent elitekv ...`):", "", "```sh", report.command, "```", "");
  }
  return lines.join("\n");
}

function resultsRow(row: SweepReportRow): ResultsRow {
  return Object.fromEntries(resultsRowFields.map((field) => [field, row[field]])) as ResultsRow;
}

function ratios(report: SweepReport): number[] {
  return distinct(report.rows.map((row) => row.ratio)).sort((a, b) => b - a);
}

/** Returns the cells of one ratio, lowest perplexity first. */
function cellsOf(report: SweepReport, ratio: number): SweepReportRow[] {
  return report.rows.filter((row) => row.ratio === ratio).sort((a, b) => a.ppl - b.ppl);
}

function tableHeader(): string[] {
  return ["| ratio | strategy | SVD | r | d_c | PPL | increase | KL | top-1 |", "|---:|---|---|---:|---:|---:|---:|---:|---:|"];
}

/** Returns how many times smaller the activation-aware SVD's PPL increase is, or larger when it is worse. */
function increaseFactor(activation: SweepReportRow, weight: SweepReportRow): string {
  if (activation.pplIncreasePct <= 0 || weight.pplIncreasePct <= 0) return "no factor: an increase is not positive";
  const factor = weight.pplIncreasePct / activation.pplIncreasePct;
  return factor >= 1 ? `${factor.toFixed(2)}× smaller` : `${(1 / factor).toFixed(2)}× larger`;
}

function percent(value: number): string {
  return `${value >= 0 ? "+" : ""}${value.toFixed(1)}%`;
}

function tableLine(row: SweepReportRow, bold: boolean): string {
  const ppl = bold ? `**${row.ppl.toFixed(2)}**` : row.ppl.toFixed(2);
  const cells = [String(row.ratio), row.strategy, row.svd, String(row.ropeChunks), String(row.latentDim), ppl, percent(row.pplIncreasePct)];
  cells.push(row.klDivergence.toFixed(3), `${(100 * row.top1Agreement).toFixed(1)}%`);
  return `| ${cells.join(" | ")} |`;
}

function distinct<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}
