// `elitekv info`: the architecture of a model and what its KV cache costs per token.
import type { LoadedModel } from "@elitekv/core";
import type { Command } from "commander";

import type { CliIo } from "../cli-io.js";
import { summarizeModel, type ModelSummary } from "../model/model-summary.js";
import { openModel } from "../model/open-model.js";
import { addModelOptions, addOutputOptions, type ModelOptions, type OutputOptions } from "../options/common-options.js";
import { formatInteger, formatTable, type TableRow } from "../output/format-table.js";
import { writeJson } from "../output/write-json.js";
import { runWithProgress } from "../progress/run-with-progress.js";

type InfoOptions = ModelOptions & OutputOptions;

export function registerInfoCommand(program: Command, io: CliIo): void {
  const command = program.command("info").description("print the architecture of a model and its KV cache size per token");
  addModelOptions(command);
  addOutputOptions(command);

  command.action(async (options: InfoOptions) => {
    const model = await runWithProgress(io.stderr, options.quiet, (onProgress) => openModel(options, onProgress));
    const summary = summarizeModel(model);

    if (options.json === true) {
      writeJson(io.stdout, summary);
      return;
    }
    io.stdout.write(formatTable(summaryRows(summary, model)));
  });
}

function summaryRows(summary: ModelSummary, model: LoadedModel): TableRow[] {
  const { config, source } = model;
  return [
    ["model", source.path],
    ["format", source.format],
    ["architecture", summary.architecture],
    ["layers", String(summary.layers)],
    ["hidden size", String(summary.hiddenSize)],
    ["intermediate size", String(config.intermediateSize)],
    ["heads", String(summary.heads)],
    ["KV heads", String(summary.kvHeads)],
    ["head dim", String(summary.headDim)],
    ["RoPE theta", String(summary.ropeTheta)],
    ["RoPE scaling", config.rope.scaling.type],
    ["RoPE layout (source)", summary.ropeLayout],
    ["vocab size", String(summary.vocabSize)],
    ["tokenizer vocab size", String(model.tokenizer.vocabSize)],
    ["context length", `${formatInteger(config.maxPositionEmbeddings)} tokens`],
    ["tied embeddings", config.tieWordEmbeddings ? "yes" : "no"],
    ["parameters", formatInteger(summary.parameters)],
    ["KV cache per token (f32)", `${formatInteger(summary.kvCacheBytesPerToken)} bytes`],
  ];
}
