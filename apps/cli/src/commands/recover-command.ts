// `elitekv recover`: refits a converted EliteKV checkpoint against its base model on calibration text
// and writes the result as a new checkpoint: layer by layer, end to end by distillation, or both in that
// order. Finished layers of the layer-wise fit are kept in <out>.partial, so a rerun of an interrupted
// command resumes there.
import { readdir, rm, stat } from "node:fs/promises";
import { resolve } from "node:path";

import { InvalidArgumentError, type Backend, type LoadedModel, type MatmulProvider, type ProgressListener, type WeightStore } from "@elitekv/core";
import {
  checkBaseModel,
  defaultLearningRate,
  defaultRidge,
  defaultDistillationLearningRate,
  defaultRounds,
  distillationRecoveryRecord,
  layerwiseRecoveryRecord,
  readConvertedManifest,
  recoverByDistillation,
  recoverLayerwise,
  writeRecoveredCheckpoint,
  type LayerRecoveryRecord,
} from "@elitekv/recovery";
import type { EliteKvDistillation, EliteKvRecovery } from "@elitekv/models";
import { createOrtMatmul } from "@elitekv/runtime-ort";
import { InvalidArgumentError as InvalidOptionValueError, Option, type Command } from "commander";

import type { CliIo } from "../cli-io.js";
import { loadTextIds } from "../elitekv/text-ids.js";
import { openModel } from "../model/open-model.js";
import { createBackend } from "../model/with-session.js";
import { addCacheDirOption, addOutputOptions, addThreadOptions, type OutputOptions, type ThreadOptions } from "../options/common-options.js";
import { integerParser, parsePositiveInteger, parseSeed } from "../options/number-parsers.js";
import { formatInteger, formatTable, type TableRow } from "../output/format-table.js";
import { writeJson } from "../output/write-json.js";
import { runWithProgress } from "../progress/run-with-progress.js";

const recoveryMethods = ["layerwise", "distill", "both"] as const;
type RecoveryMethod = (typeof recoveryMethods)[number];

interface RecoverOptions extends OutputOptions, ThreadOptions {
  base: string;
  model: string;
  cacheDir?: string;
  text: string;
  method: RecoveryMethod;
  tokens: number;
  seqLen: number;
  layerSteps: number;
  layerLr: number;
  steps?: number;
  lr?: number;
  seed: number;
  ridge: number;
  rounds: number;
  dtype?: "f32" | "f16";
  overwrite?: boolean;
  out: string;
}

interface RecoverResult {
  out: string;
  method: RecoveryMethod;
  text: string;
  tokens: number;
  windows: number;
  seqLen: number;
  /** Adam steps per layer of the layer-wise fit; 0 for method distill. */
  layerSteps: number;
  /** Layer-wise fit losses; empty for method distill. */
  layers: LayerRecoveryRecord[];
  distillation?: EliteKvDistillation;
  seconds: number;
}

/** Default Adam steps of the distillation. */
const defaultDistillationSteps = 200;

export function registerRecoverCommand(program: Command, io: CliIo): void {
  const command = program
    .command("recover")
    .description(
      "recover the quality of an EliteKV checkpoint and write the result as a new checkpoint. 'layerwise' refits " +
        "every converted layer so that its attention block reproduces the base model's block on the converted " +
        "model's own inputs (least squares of wo and w_uv, then --layer-steps Adam steps on all attention weights). " +
        "'distill' trains every layer's attention weights end to end with --steps Adam steps on KL(base ‖ converted) " +
        "of the next-token distributions. 'both' runs layerwise, then distill.",
    );
  command
    .requiredOption("--base <path>", "base model the checkpoint was converted from: a llama2.c .bin file, a Hugging Face folder, a .gguf file or a fetched model name")
    .requiredOption("-m, --model <dir>", "EliteKV checkpoint folder written by elitekv convert");
  addCacheDirOption(command);
  command
    .requiredOption("--text <source>", "calibration text, never the evaluation text: a UTF-8 file, 'sotu', 'sotu:YEAR' or 'sotu:FROM-TO'")
    .addOption(
      new Option("--method <name>", "'layerwise' fits each layer's attention block to the base block; 'distill' trains all layers on the base model's next-token distributions; 'both' runs layerwise, then distill")
        .choices(recoveryMethods)
        .default("layerwise"),
    )
    .option("--tokens <count>", "calibration tokens, BOS included; cut into windows of --seq-len", parsePositiveInteger, 8192)
    .option("--seq-len <tokens>", "tokens per calibration window, at most the model's context length", integerParser(2), 256)
    .option(
      "--layer-steps <count>",
      "layerwise and both: Adam steps per layer on all attention weights after the least-squares fit, one calibration window per step; 0 fits by least squares only",
      integerParser(0),
      0,
    )
    .option("--layer-lr <rate>", "layerwise and both: Adam learning rate of the per-layer steps", parsePositiveNumber, defaultLearningRate)
    .option("--steps <count>", `distill and both: Adam steps of the distillation, one calibration window per step (default: ${defaultDistillationSteps})`, integerParser(0))
    .option("--lr <rate>", `distill and both: Adam learning rate of the distillation (default: ${defaultDistillationLearningRate})`, parsePositiveNumber)
    .option("--seed <n>", "seed of the window order of the gradient steps", parseSeed, 0)
    .option("--ridge <fraction>", "ridge of the least-squares fits, as a fraction of the mean diagonal of the normal matrix", parsePositiveNumber, defaultRidge)
    .option("--rounds <count>", "alternating w_uv then wo refits after the first wo fit; 0 refits wo only", integerParser(0), defaultRounds)
    .addOption(new Option("--dtype <type>", "storage type of the checkpoint weights (default: the converted checkpoint's)").choices(["f32", "f16"]))
    .option("--overwrite", "replace a non-empty --out folder")
    .requiredOption("-o, --out <dir>", "checkpoint folder to write; its parent folder must exist; finished layers of the layer-wise fit go to <dir>.partial until the end");
  addThreadOptions(command);
  addOutputOptions(command);

  command.action(async (options: RecoverOptions) => {
    checkOptions(options);
    const out = resolve(options.out);
    await checkOutFolder(out, options.overwrite === true);

    const started = performance.now();
    const result = await runWithProgress(io.stderr, options.quiet, async (onProgress): Promise<RecoverResult> => {
      const model = await openModel({ model: options.model, cacheDir: options.cacheDir }, onProgress);
      const manifest = await readConvertedManifest(model);
      const base = await openModel({ model: options.base, cacheDir: options.cacheDir }, onProgress);
      await checkBaseModel(base, manifest);
      const calibration = await loadTextIds(options.text, base, { maxTokens: options.tokens }, onProgress);

      const backend = createBackend(options.backend, options.threads);
      const matmul = options.backend === "cpu" ? undefined : await createOrtMatmul({ threads: options.threads });
      try {
        const partialDir = `${out}.partial`;
        const run = { text: calibration.description, seqLen: options.seqLen, seed: options.seed };
        const context: RecoveryContext = { base, model, ids: calibration.ids, backend, matmul, partialDir, onProgress };
        const recovered = await runRecovery(context, options, run);
        await writeRecoveredCheckpoint(out, {
          base,
          model,
          manifest,
          weights: recovered.weights,
          recovery: recovered.record,
          dtype: options.dtype,
          overwrite: options.overwrite === true,
          onProgress,
        });
        await rm(partialDir, { recursive: true, force: true });

        return {
          out,
          method: options.method,
          text: calibration.description,
          tokens: recovered.record.tokens,
          windows: recovered.windows,
          seqLen: options.seqLen,
          layerSteps: recovered.record.steps,
          layers: recovered.layers,
          ...(recovered.record.distillation === undefined ? {} : { distillation: recovered.record.distillation }),
          seconds: (performance.now() - started) / 1000,
        };
      } finally {
        await matmul?.dispose();
        await backend.dispose();
      }
    });

    if (options.json === true) {
      writeJson(io.stdout, result);
      return;
    }
    io.stdout.write(formatTable(resultRows(result)));
  });
}

interface RecoveryContext {
  base: LoadedModel;
  model: LoadedModel;
  ids: readonly number[];
  backend: Backend;
  matmul: MatmulProvider | undefined;
  partialDir: string;
  onProgress: ProgressListener;
}

interface RecoveryRun {
  weights: WeightStore;
  record: EliteKvRecovery;
  windows: number;
  layers: LayerRecoveryRecord[];
}

/** Runs the layer-wise fit, the distillation, or the first and then the second on its result. */
async function runRecovery(context: RecoveryContext, options: RecoverOptions, run: { text: string; seqLen: number; seed: number }): Promise<RecoveryRun> {
  const { base, model, ids, backend, onProgress } = context;
  let current: RecoveryRun | undefined;

  if (options.method !== "distill") {
    const recovered = await recoverLayerwise(base, model, {
      ids,
      seqLen: options.seqLen,
      backend,
      threads: options.threads,
      matmul: context.matmul,
      ridge: options.ridge,
      rounds: options.rounds,
      steps: options.layerSteps,
      learningRate: options.layerLr,
      seed: options.seed,
      partialDir: context.partialDir,
      onProgress,
    });
    const record = layerwiseRecoveryRecord(recovered, { ...run, steps: options.layerSteps });
    current = { weights: recovered.weights, record, windows: recovered.windows, layers: recovered.layers };
  }
  if (options.method === "layerwise") return current!;

  const start = current === undefined ? model : { ...model, weights: current.weights };
  const distilled = await recoverByDistillation(base, start, {
    ids,
    seqLen: options.seqLen,
    backend,
    threads: options.threads,
    steps: options.steps ?? defaultDistillationSteps,
    learningRate: options.lr,
    seed: options.seed,
    onProgress,
  });
  return {
    weights: distilled.weights,
    record: distillationRecoveryRecord(distilled, run, current?.record),
    windows: distilled.windows,
    layers: current?.layers ?? [],
  };
}

/** Rejects options that the chosen method would ignore, before any work. */
function checkOptions(options: RecoverOptions): void {
  if (options.method !== "layerwise") return;
  for (const [flag, value] of [["--steps", options.steps], ["--lr", options.lr]] as const) {
    if (value === undefined) continue;
    throw new InvalidArgumentError(
      `${flag} sets the distillation of --method distill or both; for the per-layer Adam steps of --method layerwise use --layer-steps and --layer-lr`,
      { field: flag.slice(2) },
    );
  }
}

/** Rejects a non-empty --out without --overwrite before any work, instead of after the whole fit. */
async function checkOutFolder(out: string, overwrite: boolean): Promise<void> {
  const stats = await stat(out).catch(() => undefined);
  if (stats === undefined || overwrite) return;
  if (!stats.isDirectory()) {
    throw new InvalidArgumentError(`${out} is a file; pass a folder path for the checkpoint`, { file: out });
  }
  if ((await readdir(out)).length > 0) {
    throw new InvalidArgumentError(`${out} already exists and is not empty; pass --overwrite to replace it or choose another folder`, { file: out });
  }
}

function resultRows(result: RecoverResult): TableRow[] {
  const rows: TableRow[] = [
    ["checkpoint", result.out],
    ["method", result.method],
    ["calibration", `${result.text}: ${formatInteger(result.tokens)} tokens in ${result.windows} windows of ${result.seqLen}`],
  ];
  for (const layer of result.layers) {
    const note = layer.resumed ? " (resumed)" : "";
    rows.push([`layer ${layer.layer} loss`, `${layer.lossBefore.toPrecision(4)} -> ${layer.lossAfter.toPrecision(4)}${note}`]);
  }
  if (result.distillation !== undefined) {
    const { steps, klBefore, klAfter, kept } = result.distillation;
    const note = kept ? "" : " (KL rose, steps dropped)";
    rows.push(["distillation KL (nats/token)", `${klBefore.toFixed(4)} -> ${klAfter.toFixed(4)} in ${formatInteger(steps)} steps${note}`]);
  }
  rows.push(["seconds", result.seconds.toFixed(1)]);
  return rows;
}

function parsePositiveNumber(value: string): number {
  const parsed = Number(value.trim());
  if (value.trim() === "" || !Number.isFinite(parsed) || !(parsed > 0)) {
    throw new InvalidOptionValueError(`must be a positive number, got '${value}'`);
  }
  return parsed;
}
