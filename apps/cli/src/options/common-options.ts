// Options that several commands share, declared once so their names and help text stay identical.
import { Option, type Command } from "commander";

import { weightDtypes, type WeightDtype } from "@elitekv/runtime-ort";

import { backendNames, defaultBackend, type BackendName } from "../model/with-session.js";

import { parsePositiveInteger } from "./number-parsers.js";

export interface OutputOptions {
  json?: boolean;
  quiet?: boolean;
}

export interface ModelOptions {
  model: string;
  tokenizer?: string;
  cacheDir?: string;
}

export interface ThreadOptions {
  backend?: BackendName;
  threads?: number;
  weightDtype?: WeightDtype;
}

/** Adds --json (data as JSON on stdout) and --quiet (no progress on stderr). */
export function addOutputOptions(command: Command): Command {
  return command
    .option("--json", "print the result as JSON on stdout")
    .option("-q, --quiet", "print no progress on stderr");
}

/** Adds the --cache-dir option that locates fetched models. */
export function addCacheDirOption(command: Command): Command {
  return command.option(
    "--cache-dir <dir>",
    "folder of fetched models (default: $ELITEKV_CACHE_DIR, else ~/.cache/elitekv)",
  );
}

/** Adds --model (required), --tokenizer and --cache-dir. */
export function addModelOptions(command: Command): Command {
  command
    .requiredOption(
      "-m, --model <path>",
      "model: a llama2.c .bin file, a Hugging Face folder, a .gguf file or a fetched model name (smollm2)",
    )
    .option(
      "--tokenizer <path>",
      "tokenizer to use instead of the model's own: a tok*.bin for a llama2.c model (default: the one beside " +
        "the model) or a tokenizer.json for a Hugging Face folder; GGUF files contain their own",
    );
  return addCacheDirOption(command);
}

/** Adds --weight-dtype for commands that run a model on ORT but never convert it. */
export function addWeightDtypeOption(command: Command): Command {
  return command.addOption(
    new Option(
      "--weight-dtype <type>",
      "storage of the linear weights on --backend ort: f32, f16 (computes in f32), q8 or q4 (block-quantized, int8 kernels, faster decode)",
    )
      .choices([...weightDtypes])
      .default("f32"),
  );
}

/** Adds --backend and --threads for commands that run a model. */
export function addThreadOptions(command: Command): Command {
  return command
    .addOption(
      new Option("--backend <name>", "backend that runs the model: 'ort' (ONNX Runtime) or 'cpu' (the TypeScript reference)")
        .choices(backendNames)
        .default(defaultBackend),
    )
    .option("--threads <count>", "threads of the backend (default: one per CPU)", parsePositiveInteger);
}
