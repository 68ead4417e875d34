// `elitekv generate`: streams text sampled from a model to stdout.
import { randomInt } from "node:crypto";

import { InvalidArgumentError, Sampler, type LoadedModel } from "@elitekv/core";
import type { Command } from "commander";

import type { CliIo } from "../cli-io.js";
import { buildPromptIds } from "../generation/build-prompt-ids.js";
import { generateTokens, type GenerationResult } from "../generation/generate-tokens.js";
import { cacheUsage, formatGenerationStats, generationStats } from "../generation/generation-stats.js";
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
import { parsePositiveInteger, parseSeed, parseTemperature, parseTopP } from "../options/number-parsers.js";
import { writeJson } from "../output/write-json.js";
import { runWithProgress } from "../progress/run-with-progress.js";

interface GenerateOptions extends ModelOptions, OutputOptions, ThreadOptions {
  prompt: string;
  chat?: boolean;
  maxNewTokens: number;
  temperature: number;
  topP: number;
  seed?: number;
  stats?: boolean;
}

const stopReasonText: Record<GenerationResult["stopReason"], string> = {
  eos: "stopped at an end-of-sequence token",
  "max-new-tokens": "stopped at --max-new-tokens",
  "context-limit": "stopped at the context length",
};

export function registerGenerateCommand(program: Command, io: CliIo): void {
  const command = program
    .command("generate")
    .description("generate text from a prompt and stream it to stdout (or print it as JSON with --json)");
  addModelOptions(command);
  command
    .option("-p, --prompt <text>", "prompt text; empty starts from BOS alone", "")
    .option("--chat", "render the prompt as one user message through the model's chat template")
    .option("-n, --max-new-tokens <count>", "maximum number of generated tokens", parsePositiveInteger, 128)
    .option("-t, --temperature <value>", "sampling temperature; 0 selects the most likely token", parseTemperature, 0)
    .option("--top-p <mass>", "nucleus sampling: sample from the smallest set of tokens whose probability reaches <mass>", parseTopP, 1)
    .option("--seed <integer>", "seed of the sampler, 0 to 4294967295 (default: random; --json prints it)", parseSeed)
    .option("--stats", "after generation, print KV cache bytes used, bytes per token and prefill and decode tokens/s on stderr");
  addThreadOptions(command);
  addWeightDtypeOption(command);
  addOutputOptions(command);

  command.action(async (options: GenerateOptions) => {
    const stats = await runWithProgress(io.stderr, options.quiet, async (onProgress) => {
      const model = await openModel(options, onProgress);
      const { tokenizer } = model;
      const promptIds = buildPromptIds(tokenizer, {
        prompt: options.prompt,
        chat: options.chat === true,
        modelPath: model.source.path,
      });
      const maxContext = sessionContext(model, promptIds.length, options.maxNewTokens);

      const seed = options.seed ?? randomInt(0, 0x1_0000_0000);
      const sampler = new Sampler({
        temperature: options.temperature,
        topP: options.topP,
        seed,
        allowedVocabSize: tokenizer.vocabSize,
      });

      // Text goes out piece by piece, except under --json, where stdout must hold one document.
      let text = "";
      const emit = (piece: string): void => {
        if (piece === "") return;
        if (options.json === true) text += piece;
        else io.stdout.write(piece);
      };
      // The prompt primes the decoder without being printed, so that the first generated piece decodes
      // as a continuation, because SentencePiece drops the leading space of the piece right after BOS.
      // NOTE: a prompt that ends inside a UTF-8 character leaves its first bytes in the decoder, and
      // they are printed with the first generated piece that completes the character.
      const decoder = tokenizer.createDecoderStream();
      for (const id of promptIds) decoder.push(id);
      const eosIds = [...new Set([...tokenizer.eosIds, ...model.config.eosTokenIds])];

      // A start without a total draws no bar, which would mix with the text on a shared terminal.
      onProgress({ type: "start", task: "generate" });
      const { result, cache } = await withSession(model, { backend: options.backend, threads: options.threads, weightDtype: options.weightDtype, maxContext }, async (session) => {
        const generated = await generateTokens(session, promptIds, {
          sampler,
          maxNewTokens: options.maxNewTokens,
          eosIds,
          onToken: (id) => emit(decoder.push(id)),
        });
        return { result: generated, cache: cacheUsage(session.cache) };
      });
      emit(decoder.flush());
      if (options.json !== true) io.stdout.write("\n");

      const tokensPerSecond = result.ids.length / Math.max(result.decodeSeconds, 1e-9);
      onProgress({
        type: "end",
        task: "generate",
        seconds: result.prefillSeconds + result.decodeSeconds,
        message:
          `${result.ids.length} tokens after a prompt of ${promptIds.length}, ` +
          `${tokensPerSecond.toFixed(1)} tokens/s, ${stopReasonText[result.stopReason]}`,
      });

      const stats = generationStats(result, promptIds.length, cache);
      if (options.json === true) {
        writeJson(io.stdout, {
          text,
          promptTokens: promptIds.length,
          generatedTokens: result.ids.length,
          stopReason: result.stopReason,
          seed,
          seconds: result.prefillSeconds + result.decodeSeconds,
          tokensPerSecond,
          ...(options.stats === true ? { stats } : {}),
        });
      }
      return stats;
    });

    // Written after the progress renderer closed, so no bar redraw overwrites it.
    if (options.stats === true) io.stderr.write(formatGenerationStats(stats));
  });
}

/**
 * Returns the KV cache size for this run: the prompt plus the generated tokens, capped at the model's
 * context length. Throws when the prompt alone does not fit.
 */
function sessionContext(model: LoadedModel, promptTokens: number, maxNewTokens: number): number {
  const contextLength = model.config.maxPositionEmbeddings;
  if (promptTokens > contextLength) {
    throw new InvalidArgumentError(
      `the prompt is ${promptTokens} tokens long, more than the context length of ${contextLength} tokens of ` +
        `${model.source.path}; shorten --prompt`,
    );
  }
  return Math.min(contextLength, promptTokens + maxNewTokens);
}

