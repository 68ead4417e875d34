// `elitekv analyze`: ranks the RoPE chunks of every layer and KV head of a base model and writes
// ranking.json for `elitekv convert`.
import { resolve } from "node:path";

import { rankingStrategies, writeRanking, type RankingStrategy } from "@elitekv/ropelite";
import { Option, type Command } from "commander";

import type { CliIo } from "../cli-io.js";
import { rankChunks } from "../elitekv/rank-chunks.js";
import { loadTextIds } from "../elitekv/text-ids.js";
import { openModel } from "../model/open-model.js";
import {
  addModelOptions,
  addOutputOptions,
  addThreadOptions,
  type ModelOptions,
  type OutputOptions,
  type ThreadOptions,
} from "../options/common-options.js";
import { parsePositiveInteger, parseSeed } from "../options/number-parsers.js";
import { formatTable } from "../output/format-table.js";
import { writeJson } from "../output/write-json.js";
import { runWithProgress } from "../progress/run-with-progress.js";

interface AnalyzeOptions extends ModelOptions, OutputOptions, ThreadOptions {
  text: string;
  tokens: number;
  seqLen: number;
  pairs: number;
  strategy: RankingStrategy;
  seed: number;
  out: string;
}

/** Chunks per KV head that the summary lists for each layer. */
const summaryChunks = 4;

export function registerAnalyzeCommand(program: Command, io: CliIo): void {
  const command = program
    .command("analyze")
    .description(
      "rank the RoPE chunks of every layer and KV head on calibration text (RoPElite greedy selection or " +
        "a baseline) and write ranking.json for elitekv convert",
    );
  addModelOptions(command);
  command
    .requiredOption("--text <source>", "calibration text: a UTF-8 file, 'sotu', 'sotu:YEAR' or 'sotu:FROM-TO'")
    .option("--tokens <count>", "calibration tokens taken from the start of the text, BOS included", parsePositiveInteger, 4096)
    .option("--seq-len <tokens>", "tokens per calibration window; windows = ceil(tokens / seq-len)", parsePositiveInteger, 256)
    .option("--pairs <count>", "causal (query, key) position pairs sampled per window", parsePositiveInteger, 2000)
    .addOption(new Option("--strategy <name>", "ranking strategy").choices(rankingStrategies).default("ropelite"))
    .option("--seed <integer>", "seed of the window and pair sampling, 0 to 4294967295", parseSeed, 0)
    .requiredOption("-o, --out <file>", "path of the ranking.json to write");
  addThreadOptions(command);
  addOutputOptions(command);

  command.action(async (options: AnalyzeOptions) => {
    const ranking = await runWithProgress(io.stderr, options.quiet, async (onProgress) => {
      const model = await openModel(options, onProgress);
      const text = await loadTextIds(options.text, model, { maxTokens: options.tokens }, onProgress);
      const result = await rankChunks(
        model,
        text.ids,
        {
          strategy: options.strategy,
          seqLen: options.seqLen,
          pairs: options.pairs,
          seed: options.seed,
          textLabel: text.description,
          backend: options.backend,
          threads: options.threads,
        },
        onProgress,
      );
      await writeRanking(options.out, result);
      return result;
    });

    // First chunks of each layer, one list per KV head: the chunks a small conversion keeps.
    const firstChunks = ranking.layers.map((layer) => layer.kvHeads.map((head) => head.ranking.slice(0, summaryChunks)));
    if (options.json === true) {
      writeJson(io.stdout, {
        out: resolve(options.out),
        strategy: ranking.strategy,
        fingerprint: ranking.model.fingerprint,
        calibration: ranking.calibration,
        firstChunks,
      });
      return;
    }
    io.stdout.write(
      formatTable([
        ["ranking", resolve(options.out)],
        ["strategy", ranking.strategy],
        ["calibration", `${ranking.calibration.windows} windows of ${ranking.calibration.windowLength} tokens, ${ranking.calibration.pairs} pairs each`],
        ...firstChunks.map((heads, layer): [string, string] => [`layer ${layer}`, heads.map((chunks) => chunks.join(",")).join("  ")]),
      ]),
    );
  });
}
