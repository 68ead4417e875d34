// report.md: the sweep table (rows as sorted in the report), the base perplexity, the texts, the exact
// command line and links to the plots and rankings.
import { basename } from "node:path";

import type { SweepReport } from "./sweep-report.js";

/** Renders the report as markdown. `plots` lists the plot files with their titles, in display order. */
export function renderSweepMarkdown(report: SweepReport, plots: readonly { file: string; title: string }[]): string {
  const { base, evaluation, calibration, timings } = report;
  const lines: string[] = [];

  lines.push(`# EliteKV sweep of ${escapeMarkdown(basename(report.model.path))}`, "");
  lines.push(
    `Base model perplexity: **${base.ppl.toFixed(4)}** on ${escapeMarkdown(evaluation.text)} ` +
      `(${evaluation.scoredTokens} scored tokens in ${evaluation.windows} windows of ${evaluation.window} tokens).`,
    "",
  );

  lines.push(
    "| ratio | cache ratio | strategy | SVD | r | d_c | PPL | PPL increase | KL (nats/token) | top-1 agreement |",
    "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|",
  );
  for (const row of report.rows) {
    const cells = [
      String(row.ratio),
      row.cacheRatio.toFixed(4),
      row.strategy,
      row.svd,
      String(row.ropeChunks),
      String(row.latentDim),
      row.ppl.toFixed(4),
      `${row.pplIncreasePct >= 0 ? "+" : ""}${row.pplIncreasePct.toFixed(2)}%`,
      row.klDivergence.toExponential(3),
      `${(100 * row.top1Agreement).toFixed(2)}%`,
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  lines.push("");

  lines.push("r is the number of rotated chunks kept per KV head and d_c the width of the shared key/value latent.", "");
  lines.push("## Setup", "");
  const config = report.model.config;
  lines.push(
    `- Model: ${escapeMarkdown(report.model.path)} (${config.layers} layers, ${config.heads} heads over ${config.kvHeads} KV heads of ` +
      `${config.headDim} dims), sha256 \`${report.model.fingerprint}\``,
    `- Calibration: ${escapeMarkdown(calibration.text)}: ${calibration.tokens} tokens after skipping ${calibration.skipChars} characters, ` +
      `ranked on ${calibration.windows} windows of ${calibration.seqLen} tokens with ${calibration.pairs} pairs each (seed ${calibration.seed})`,
    `- Evaluation: ${escapeMarkdown(evaluation.text)}: ${evaluation.tokens} tokens, ${evaluation.windows} windows of ${evaluation.window} tokens`,
    `- Backend: ${escapeMarkdown(report.backend)}, ${report.passes.count} comparison ${report.passes.count === 1 ? "pass" : "passes"} ` +
      `of up to ${report.passes.modelsPerPass} converted models`,
    `- Time: ranking ${seconds(timings.rankSeconds)}, covariances ${seconds(timings.covarianceSeconds)}, conversion ` +
      `${seconds(timings.convertSeconds)}, comparison ${seconds(timings.compareSeconds)}, total ${seconds(timings.totalSeconds)}`,
    "",
  );

  if (report.command !== undefined) {
    const fence = "`".repeat(Math.max(3, longestBacktickRun(report.command) + 1));
    lines.push("## Command", "", fence, report.command, fence, "");
  }

  if (plots.length > 0) {
    lines.push("## Plots", "");
    for (const plot of plots) lines.push(`- [${escapeMarkdown(plot.title)}](${encodeURI(plot.file)})`);
    lines.push("");
  }
  if (report.files.rankings.length > 0) {
    lines.push("## Rankings", "", "Each file can be passed to `elitekv convert --ranking` to convert at any ratio.", "");
    for (const file of report.files.rankings) lines.push(`- [${escapeMarkdown(file)}](${encodeURI(file)})`);
    lines.push("");
  }
  return lines.join("\n");
}

/** Escapes the characters that would break a table cell or start markup inside running text. */
function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_[\]|<>]/g, (character) => `\\${character}`);
}

function longestBacktickRun(text: string): number {
  let longest = 0;
  let current = 0;
  for (const character of text) {
    current = character === "`" ? current + 1 : 0;
    longest = Math.max(longest, current);
  }
  return longest;
}

function seconds(value: number): string {
  return `${value.toFixed(1)} s`;
}
