// `elitekv eval ppl`: perplexity of a model on a text, over non-overlapping windows.
import { InvalidArgumentError, type LoadedModel } from "@elitekv/core";
import { computePerplexity } from "@elitekv/eval";
import { loadTextSource } from "@elitekv/models";
import type { Command } from "commander";

import type { CliIo } from "../cli-io.js";
import { openModel } from "../model/open-model.js";
import { withSession } from "../model/with-session.js";
import {
  addModelOptions,
  addOutputOptions,
  addThreadOptions,
  addWeightDtypeOption,
  type ModelOptions,
  type OutputOptions,
  type ThreadOptions,
} from "../options/common-options.js";
import { integerParser, parsePositiveInteger } from "../options/number-parsers.js";
import { formatInteger, formatTable } from "../output/format-table.js";
import { writeJson } from "../output/write-json.js";
import { formatSeconds } from "../progress/format-progress.js";
import { runWithProgress } from "../progress/run-with-progress.js";

interface EvalPerplexityOptions extends ModelOptions, OutputOptions, ThreadOptions {
  text: string;
  maxChars?: number;
  window: number;
}

const defaultWindow = 512;

export function registerEvalPerplexityCommand(parent: Command, io: CliIo): void {
  const command = parent
    .command("ppl")
    .description(
      "compute perplexity: tokenize the text with BOS once at the start, split the ids into " +
        "non-overlapping windows, score each window without context from the previous one, and drop " +
        "the final partial window",
    );
  addModelOptions(command);
  command
    .requiredOption("--text <source>", "text to score: a UTF-8 file, 'sotu' (State of the Union addresses), 'sotu:YEAR' or 'sotu:FROM-TO'")
    .option("--max-chars <count>", "score only the first <count> characters (default: the whole text)", parsePositiveInteger)
    .option("--window <tokens>", "tokens per window, at most the model's context length", integerParser(2), defaultWindow);
  addThreadOptions(command);
  addWeightDtypeOption(command);
  addOutputOptions(command);

  command.action(async (options: EvalPerplexityOptions) => {
    const report = await runWithProgress(io.stderr, options.quiet, async (onProgress) => {
      const text = await loadTextSource(options.text, { maxChars: options.maxChars });
      const model = await openModel(options, onProgress);
      checkWindow(options.window, model);

      const ids = model.tokenizer.encode(text.text, { addBos: true });
      checkTextLength(ids.length, options, text.description);
      onProgress({
        type: "info",
        task: "tokenize",
        message: `${text.description}: ${text.characters} characters, ${ids.length} tokens`,
      });

      const perplexity = await withSession(model, { backend: options.backend, threads: options.threads, weightDtype: options.weightDtype, maxContext: options.window }, (session) =>
        computePerplexity(session, ids, { window: options.window, onProgress }),
      );
      return { perplexity, text, ids: ids.length };
    });

    const { perplexity } = report;
    if (options.json === true) {
      writeJson(io.stdout, {
        ppl: perplexity.ppl,
        meanNll: perplexity.meanNll,
        tokens: perplexity.tokens,
        windows: perplexity.windows,
        seconds: perplexity.seconds,
      });
      return;
    }
    io.stdout.write(
      formatTable([
        ["perplexity", perplexity.ppl.toFixed(4)],
        ["mean NLL", `${perplexity.meanNll.toFixed(6)} nats/token`],
        ["scored tokens", `${formatInteger(perplexity.tokens)} in ${perplexity.windows} windows of ${perplexity.window}`],
        ["text", `${report.text.description}, ${formatInteger(report.text.characters)} characters, ${formatInteger(report.ids)} tokens`],
        ["time", formatSeconds(perplexity.seconds)],
      ]),
    );
  });
}

/**
 * Rejects a text with fewer ids than one window before a backend starts, naming the text and the flags
 * that change the count.
 */
function checkTextLength(ids: number, options: EvalPerplexityOptions, description: string): void {
  if (ids >= options.window) return;

  const counted = `${description} tokenizes to ${ids} ${ids === 1 ? "id" : "ids"} with BOS`;
  if (ids < 2) {
    throw new InvalidArgumentError(`${counted}, so there is no token to score; pass a non-empty --text`);
  }
  const longer = options.maxChars === undefined ? "a longer --text" : "a longer --text or a larger --max-chars";
  throw new InvalidArgumentError(
    `${counted}, fewer than one window of ${options.window}; pass ${longer}, or --window ${ids} or less`,
  );
}

/** Rejects a window longer than the model's context, naming the flag to change. */
function checkWindow(window: number, model: LoadedModel): void {
  const contextLength = model.config.maxPositionEmbeddings;
  if (window <= contextLength) return;
  throw new InvalidArgumentError(
    `--window ${window} exceeds the context length of ${contextLength} tokens of ${model.source.path}; ` +
      `pass --window ${contextLength} or less`,
  );
}
