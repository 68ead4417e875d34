// `elitekv eval compare`: converted EliteKV checkpoints against their base model on the same text.
import { InvalidArgumentError, type LoadedModel } from "@elitekv/core";
import type { Command } from "commander";

import type { CliIo } from "../cli-io.js";
import { compareCheckpoints, type CheckpointComparison } from "../elitekv/compare-checkpoint.js";
import { loadTextIds } from "../elitekv/text-ids.js";
import { openModel } from "../model/open-model.js";
import { addCacheDirOption, addOutputOptions, addThreadOptions, addWeightDtypeOption, type OutputOptions, type ThreadOptions } from "../options/common-options.js";
import { integerParser, parsePositiveInteger } from "../options/number-parsers.js";
import { formatInteger, formatTable, type TableRow } from "../output/format-table.js";
import { writeJson } from "../output/write-json.js";
import { formatSeconds } from "../progress/format-progress.js";
import { runWithProgress } from "../progress/run-with-progress.js";

interface EvalCompareOptions extends OutputOptions, ThreadOptions {
  base: string;
  model: string[];
  tokenizer?: string;
  cacheDir?: string;
  text: string;
  maxChars?: number;
  window: number;
}

const defaultWindow = 512;

export function registerEvalCompareCommand(parent: Command, io: CliIo): void {
  const command = parent
    .command("compare")
    .description(
      "compare a model with its base model on the same windows of a text: perplexity of both, mean " +
        "KL(base ‖ model) and top-1 agreement over predicted positions, and KV cache bytes per token",
    );
  command
    .requiredOption("--base <path>", "base model: a llama2.c .bin file, a Hugging Face folder, a .gguf file or a fetched model name")
    .requiredOption(
      "-m, --model <path>",
      "model under test, usually an EliteKV checkpoint folder written by elitekv convert; repeat the flag to " +
        "compare several models, with the base run once per window",
      collectPaths,
      [],
    )
    .option("--tokenizer <path>", "tokenizer file for a llama2.c base model (default: a tok*.bin beside it)");
  addCacheDirOption(command);
  command
    .requiredOption("--text <source>", "text to score: a UTF-8 file, 'sotu', 'sotu:YEAR' or 'sotu:FROM-TO'")
    .option("--max-chars <count>", "score only the first <count> characters (default: the whole text)", parsePositiveInteger)
    .option("--window <tokens>", "tokens per window, at most both models' context length", integerParser(2), defaultWindow);
  addThreadOptions(command);
  addWeightDtypeOption(command);
  addOutputOptions(command);

  command.action(async (options: EvalCompareOptions) => {
    const comparisons = await runWithProgress(io.stderr, options.quiet, async (onProgress) => {
      const base = await openModel({ model: options.base, tokenizer: options.tokenizer, cacheDir: options.cacheDir }, onProgress);
      checkWindow(options.window, base, "--base");
      const models: LoadedModel[] = [];
      for (const path of options.model) {
        const model = await openModel({ model: path, cacheDir: options.cacheDir }, onProgress);
        checkWindow(options.window, model, "--model");
        models.push(model);
      }

      const text = await loadTextIds(options.text, base, { maxChars: options.maxChars }, onProgress);
      return compareCheckpoints(base, models, text.ids, { window: options.window, backend: options.backend, threads: options.threads, weightDtype: options.weightDtype }, onProgress);
    });

    // One --model prints the comparison object; several print an array in --model order.
    if (options.json === true) {
      writeJson(io.stdout, comparisons.length === 1 ? comparisonJson(comparisons[0]) : comparisons.map(comparisonJson));
      return;
    }
    if (comparisons.length === 1) {
      io.stdout.write(formatTable(comparisonRows(comparisons[0])));
      return;
    }
    io.stdout.write(comparisons.map((comparison, m) => `${options.model[m]}\n${formatTable(comparisonRows(comparison))}`).join("\n"));
  });
}

function collectPaths(path: string, previous: string[]): string[] {
  return [...previous, path];
}

/** Field names and order are the `eval compare --json` contract. */
export function comparisonJson(comparison: CheckpointComparison): object {
  return {
    base: comparison.base,
    model: comparison.model,
    pplIncreasePct: comparison.pplIncreasePct,
    klDivergence: comparison.klDivergence,
    top1Agreement: comparison.top1Agreement,
    cacheRatio: comparison.cacheRatio,
    cacheBytesPerToken: comparison.cacheBytesPerToken,
    tokens: comparison.tokens,
    windows: comparison.windows,
    seconds: comparison.seconds,
  };
}

export function comparisonRows(comparison: CheckpointComparison): TableRow[] {
  const { cacheBytesPerToken } = comparison;
  return [
    ["perplexity", `${comparison.base.ppl.toFixed(4)} base, ${comparison.model.ppl.toFixed(4)} model (${signed(comparison.pplIncreasePct)}%)`],
    ["KL(base ‖ model)", `${comparison.klDivergence.toExponential(3)} nats/token`],
    ["top-1 agreement", `${(100 * comparison.top1Agreement).toFixed(2)}%`],
    ["cache bytes per token", `${formatInteger(cacheBytesPerToken.base)} base, ${formatInteger(cacheBytesPerToken.model)} model`],
    ["cache ratio", comparison.cacheRatio.toFixed(4)],
    ["scored tokens", `${formatInteger(comparison.tokens)} in ${comparison.windows} windows`],
    ["time", formatSeconds(comparison.seconds)],
  ];
}

function signed(value: number): string {
  return `${value >= 0 ? "+" : ""}${value.toFixed(2)}`;
}

/** Rejects a window longer than a model's context, naming the flag to change. */
function checkWindow(window: number, model: LoadedModel, flag: string): void {
  const contextLength = model.config.maxPositionEmbeddings;
  if (window <= contextLength) return;
  throw new InvalidArgumentError(
    `--window ${window} exceeds the context length of ${contextLength} tokens of ${flag} ${model.source.path}; ` +
      `pass --window ${contextLength} or less`,
    { field: "window" },
  );
}
