// Writes a sweep's files into its output folder: one ranking per strategy, the SVG plots, report.md and
// report.json. Each file goes to a temp file in the same folder first and is renamed into place.
import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";

import { writeRanking } from "@elitekv/ropelite";

import type { SweepResult } from "./run-sweep.js";
import { renderSweepMarkdown } from "./sweep-markdown.js";
import { renderSweepPlots } from "./sweep-plots.js";
import { buildSweepReport, type SweepReport, type SweepReportContext } from "./sweep-report.js";
import { validateSweepReport } from "./sweep-report-validation.js";

export const reportFile = "report.json";
export const markdownFile = "report.md";

export function rankingFile(strategy: string): string {
  return `ranking-${strategy}.json`;
}

export interface WrittenSweep {
  /** Absolute path of the output folder. */
  dir: string;
  report: SweepReport;
  /** Absolute paths of every file written, report.json last. */
  files: string[];
}

/**
 * Builds the report of `result` and writes all files to `dir`, creating the folder when missing.
 * Files of the same name are replaced, and other files in the folder are left alone. report.json is
 * written last, so its presence means the other files are complete. The report is validated before
 * anything is written.
 */
export async function writeSweepOutputs(dir: string, result: SweepResult, context: Omit<SweepReportContext, "files">): Promise<WrittenSweep> {
  const folder = resolve(dir);
  const rankings = result.rankings.map((ranking) => rankingFile(ranking.strategy));
  const report = buildSweepReport(result, { ...context, files: { markdown: markdownFile, plots: [], rankings } });
  const plots = renderSweepPlots(report, result.rankings);
  report.files.plots = plots.map((plot) => plot.file);
  validateSweepReport(report, join(folder, reportFile));

  await mkdir(folder, { recursive: true });
  const written: string[] = [];
  for (const [index, ranking] of result.rankings.entries()) {
    const path = join(folder, rankings[index]);
    await writeRanking(path, ranking);
    written.push(path);
  }
  for (const plot of plots) written.push(await writeFileAtomic(join(folder, plot.file), plot.svg));
  written.push(await writeFileAtomic(join(folder, markdownFile), renderSweepMarkdown(report, plots)));
  written.push(await writeFileAtomic(join(folder, reportFile), `${JSON.stringify(report, null, 2)}\n`));
  return { dir: folder, report, files: written };
}

/** Writes `content` as UTF-8 to a temp file beside `path`, then renames it to `path`. Returns `path`. */
export async function writeFileAtomic(path: string, content: string): Promise<string> {
  const temporary = join(dirname(path), `.elitekv-tmp-${basename(path)}-${randomBytes(6).toString("hex")}`);
  try {
    await writeFile(temporary, content, "utf8");
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return path;
}
