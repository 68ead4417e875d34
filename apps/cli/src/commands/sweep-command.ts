// `elitekv sweep`: the compression quality study. Converts a base model in memory for every ranking
// strategy, SVD mode and cache ratio, compares each conversion with the base model on evaluation text,
// and writes report.json, report.md, the rankings and SVG plots to a folder.
import type { SvdMode } from "@elitekv/converter";
import { rankingStrategies, type RankingStrategy } from "@elitekv/ropelite";
import { createOrtMatmul } from "@elitekv/runtime-ort";
import { defaultOverlapLength, runSweep, svdModes, writeSweepOutputs, type SweepReport } from "@elitekv/sweep";
import { Option, type Command } from "commander";

import type { CliIo } from "../cli-io.js";
import { formatCommandLine } from "../elitekv/shell-command-line.js";
import { parseRatioList, parseStrategyList, parseSvdList } from "../elitekv/sweep-option-lists.js";
import { loadSweepTexts } from "../elitekv/sweep-texts.js";
import { createBackend, defaultBackend } from "../model/with-session.js";
import { openModel } from "../model/open-model.js";
import {
  addModelOptions,
  addOutputOptions,
  addThreadOptions,
  type ModelOptions,
  type OutputOptions,
  type ThreadOptions,
} from "../options/common-options.js";
import { integerParser, parsePositiveInteger, parseSeed } from "../options/number-parsers.js";
import { writeJson } from "../output/write-json.js";
import { runWithProgress } from "../progress/run-with-progress.js";

interface SweepOptions extends ModelOptions, OutputOptions, ThreadOptions {
  calib: string;
  calibSkipChars: number;
  calibTokens: number;
  seqLen: number;
  pairs: number;
  seed: number;
  eval: string;
  evalMaxChars?: number;
  window: number;
  ratios: number[];
  strategies: RankingStrategy[];
  svd: SvdMode[];
  modelsPerPass?: number;
  overlapChars: number;
  out: string;
}

const defaultRatios = [0.5, 0.375, 0.25, 0.125];

export function registerSweepCommand(program: Command, io: CliIo): void {
  const command = program
    .command("sweep")
    .description(
      "measure compression quality: rank the chunks once per strategy, convert the model in memory for every " +
        "strategy, SVD mode and cache ratio, and compare each conversion with the base model (perplexity, " +
        "KL(base ‖ model), top-1 agreement); writes report.json, report.md, rankings and SVG plots to --out",
    );
  addModelOptions(command);
  command
    .requiredOption("--calib <source>", "calibration text for the rankings and covariances: a UTF-8 file, 'sotu', 'sotu:YEAR' or 'sotu:FROM-TO'")
    .option("--calib-skip-chars <count>", "skip the first <count> characters of --calib, so one file can feed both texts", integerParser(0), 0)
    .option("--calib-tokens <count>", "calibration tokens taken after the skipped characters, BOS included", parsePositiveInteger, 4096)
    .option("--seq-len <tokens>", "tokens per ranking window; windows = ceil(calib-tokens / seq-len)", parsePositiveInteger, 256)
    .option("--pairs <count>", "causal (query, key) position pairs sampled per ranking window", parsePositiveInteger, 2000)
    .option("--seed <integer>", "seed of the window and pair sampling, 0 to 4294967295", parseSeed, 0)
    .requiredOption("--eval <source>", "evaluation text, scored from its first character: a UTF-8 file, 'sotu', 'sotu:YEAR' or 'sotu:FROM-TO'")
    .option("--eval-max-chars <count>", "score only the first <count> characters of --eval (default: the whole text)", parsePositiveInteger)
    .option("--window <tokens>", "tokens per evaluation window, at most the model's context length", integerParser(2), 512)
    .addOption(listOption("--ratios <list>", "comma-separated KV cache ratios, each in (0, 1]", parseRatioList, defaultRatios))
    .addOption(listOption("--strategies <list>", "comma-separated chunk ranking strategies", parseStrategyList, [...rankingStrategies]))
    .addOption(
      listOption("--svd <list>", "comma-separated low-rank fits: 'weight' minimises the weight error, 'activation' the error on --calib activations", parseSvdList, [...svdModes]),
    )
    .option(
      "--models-per-pass <count>",
      "converted models compared in one pass over the evaluation text, each in its own session " +
        "(default: as many as half the machine's memory holds, estimated at twice the weight bytes per session)",
      parsePositiveInteger,
    )
    .option(
      "--overlap-chars <count>",
      "reject calibration and evaluation texts that share a run of at least <count> characters",
      integerParser(16),
      defaultOverlapLength,
    )
    .requiredOption("-o, --out <dir>", "folder for the report, rankings and plots; created when missing, files of the same name replaced");
  addThreadOptions(command);
  addOutputOptions(command);

  command.action(async (options: SweepOptions) => {
    // Commander 14 keeps the arguments passed to parse in rawArgs, which its typings leave out.
    const commandLine = formatCommandLine((program as Command & { rawArgs: string[] }).rawArgs);
    const backend = options.backend ?? defaultBackend;

    const written = await runWithProgress(io.stderr, options.quiet, async (onProgress) => {
      const model = await openModel(options, onProgress);
      const texts = await loadSweepTexts(
        model,
        {
          calibration: options.calib,
          calibrationSkipChars: options.calibSkipChars,
          calibrationTokens: options.calibTokens,
          seqLen: options.seqLen,
          evaluation: options.eval,
          evaluationMaxChars: options.evalMaxChars,
          window: options.window,
          overlapChars: options.overlapChars,
        },
        onProgress,
      );

      // On ORT the covariance and SVD products run in ORT's GEMM as well.
      const matmul = backend === "cpu" ? undefined : await createOrtMatmul({ threads: options.threads });
      try {
        const result = await runSweep({
          model,
          grid: { ratios: options.ratios, strategies: options.strategies, svdModes: options.svd },
          calibration: { ids: texts.calibration.ids, label: texts.calibration.label, seqLen: options.seqLen, pairs: options.pairs, seed: options.seed },
          evaluation: { ids: texts.evaluation.ids, window: options.window },
          runtime: { createBackend: () => createBackend(backend, options.threads), threads: options.threads, matmul },
          modelsPerPass: options.modelsPerPass,
          onProgress,
        });
        return await writeSweepOutputs(options.out, result, {
          model,
          backend,
          calibrationText: texts.calibration.label,
          skipChars: options.calibSkipChars,
          evaluationText: texts.evaluation.label,
          command: commandLine,
        });
      } finally {
        await matmul?.dispose();
      }
    });

    if (options.json === true) {
      writeJson(io.stdout, { out: written.dir, report: written.report });
      return;
    }
    io.stdout.write(formatSweepTable(written.report));
    io.stdout.write(`\nreport: ${written.dir}/report.md (${written.report.files.plots.length} plots, ${written.report.files.rankings.length} rankings)\n`);
  });
}

/** Returns an option whose value is a comma-separated list, with the default shown the same way. */
function listOption<T>(flags: string, description: string, parse: (value: string) => T[], defaults: T[]): Option {
  return new Option(flags, description).argParser(parse).default(defaults, defaults.join(","));
}

/** Formats the base perplexity and one aligned line per report row. */
export function formatSweepTable(report: SweepReport): string {
  const header = ["ratio", "strategy", "svd", "r", "d_c", "ppl", "ppl increase", "KL nats/token", "top-1"];
  const lines = report.rows.map((row) => [
    String(row.ratio),
    row.strategy,
    row.svd,
    String(row.ropeChunks),
    String(row.latentDim),
    row.ppl.toFixed(4),
    `${row.pplIncreasePct >= 0 ? "+" : ""}${row.pplIncreasePct.toFixed(2)}%`,
    row.klDivergence.toExponential(3),
    `${(100 * row.top1Agreement).toFixed(2)}%`,
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column].length)));
  const format = (cells: string[]) => cells.map((cell, column) => (column <= 2 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join("  ");
  return [`base model perplexity ${report.base.ppl.toFixed(4)}`, "", format(header), ...lines.map(format), ""].join("\n");
}
