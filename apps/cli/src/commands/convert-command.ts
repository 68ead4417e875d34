// `elitekv convert`: converts a base model to an EliteKV checkpoint folder with a chunk ranking and a
// cache target.
import { InvalidArgumentError } from "@elitekv/core";
import { latentAllocations, type ConversionTarget, type LatentAllocation, type SvdMode } from "@elitekv/converter";
import { readRanking } from "@elitekv/ropelite";
import { Option, type Command } from "commander";

import type { CliIo } from "../cli-io.js";
import { convertCheckpoint } from "../elitekv/convert-checkpoint.js";
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
import { integerParser, parseCacheRatio, parsePositiveInteger } from "../options/number-parsers.js";
import { formatInteger, formatTable } from "../output/format-table.js";
import { writeJson } from "../output/write-json.js";
import { runWithProgress } from "../progress/run-with-progress.js";

interface ConvertOptions extends ModelOptions, OutputOptions, ThreadOptions {
  ranking: string;
  ratio?: number;
  ropeChunks?: number;
  latentDim?: number;
  svd: SvdMode;
  text?: string;
  tokens: number;
  allocation?: "rule" | "search";
  latentAllocation: LatentAllocation;
  dtype: "f32" | "f16";
  overwrite?: boolean;
  out: string;
}

export function registerConvertCommand(program: Command, io: CliIo): void {
  const command = program
    .command("convert")
    .description(
      "convert a base model to an EliteKV checkpoint folder: keep the ranking's first chunks of every KV head " +
        "rotated and project the rest of the keys and the values into one shared latent (J-LRD)",
    );
  addModelOptions(command);
  command
    .requiredOption("--ranking <file>", "ranking.json of this model, written by elitekv analyze")
    .option("--ratio <fraction>", "KV cache size as a fraction of the full cache, in (0, 1]", parseCacheRatio)
    .option("--rope-chunks <count>", "rotated chunks kept per KV head (r); use with --latent-dim", integerParser(0))
    .option("--latent-dim <width>", "width of the shared key/value latent (d_c); use with --rope-chunks", parsePositiveInteger)
    .addOption(
      new Option("--svd <mode>", "low-rank fit: 'weight' minimises the weight error, 'activation' the error on --text activations")
        .choices(["weight", "activation"])
        .default("weight"),
    )
    .option(
      "--text <source>",
      "calibration text for --svd activation and the allocation search: a UTF-8 file, 'sotu', 'sotu:YEAR' or 'sotu:FROM-TO'",
    )
    .option("--tokens <count>", "calibration tokens, BOS included", parsePositiveInteger, 4096)
    .addOption(
      new Option(
        "--allocation <method>",
        "how --ratio splits the cache between rotated chunks r and latent width d_c: 'rule' takes r = max(1, round(ratio·h/4)); " +
          "'search' converts with r at 0.5, 1, 1.5, 2 and 3 times that, scores each by perplexity on the last 4 windows of " +
          "256 tokens of --text (never the evaluation text) and keeps the best (default: search when --text is given, else rule)",
      ).choices(["rule", "search"]),
    )
    .addOption(
      new Option(
        "--latent-allocation <method>",
        "how the latent budget (layers × d_c) is split over the layers: 'uniform' gives every layer d_c; 'spectrum' gives each " +
          "next dim to the layer whose joint key/value matrix keeps the largest further fraction of its energy (of the matrix " +
          "that --svd factors), with at least d_c/4 per layer; the cache size stays the same",
      )
        .choices(latentAllocations)
        .default("uniform"),
    )
    .addOption(new Option("--dtype <type>", "storage type of the checkpoint weights").choices(["f32", "f16"]).default("f32"))
    .option("--overwrite", "replace a non-empty --out folder")
    .requiredOption("-o, --out <dir>", "checkpoint folder to write; its parent folder must exist");
  addThreadOptions(command);
  addOutputOptions(command);

  command.action(async (options: ConvertOptions) => {
    const target = conversionTarget(options);
    if (options.svd === "activation" && options.text === undefined) {
      throw new InvalidArgumentError("--svd activation fits the latent to activations of calibration text; pass --text <source>", {
        field: "text",
      });
    }

    const allocation = options.allocation ?? (options.text !== undefined && options.ratio !== undefined ? "search" : "rule");
    if (allocation === "search" && options.text === undefined) {
      throw new InvalidArgumentError("--allocation search scores candidate splits on calibration text; pass --text <source>", {
        field: "text",
      });
    }

    const converted = await runWithProgress(io.stderr, options.quiet, async (onProgress) => {
      const ranking = await readRanking(options.ranking);
      const model = await openModel(options, onProgress);
      const calibration = options.text === undefined ? undefined : await loadTextIds(options.text, model, { maxTokens: options.tokens }, onProgress);

      return convertCheckpoint(
        model,
        {
          ranking,
          rankingPath: options.ranking,
          target,
          svd: options.svd,
          calibrationIds: calibration?.ids,
          calibrationLabel: calibration?.description,
          allocation,
          latentAllocation: options.latentAllocation,
          dtype: options.dtype,
          overwrite: options.overwrite === true,
          out: options.out,
          backend: options.backend,
          threads: options.threads,
        },
        onProgress,
      );
    });

    const { cacheBytesPerToken } = converted;
    if (options.json === true) {
      writeJson(io.stdout, {
        out: converted.out,
        ratio: converted.ratio,
        ropeChunks: converted.ropeChunks,
        latentDim: converted.latentDim,
        latentDims: converted.latentDims,
        allocation: converted.allocation ?? null,
        cacheBytesPerToken,
      });
      return;
    }
    io.stdout.write(
      formatTable([
        ["checkpoint", converted.out],
        ["cache ratio", converted.ratio.toFixed(6)],
        ["rotated chunks per KV head", String(converted.ropeChunks)],
        ["latent width", latentWidths(converted.latentDims)],
        ["cache bytes per token", `${formatInteger(cacheBytesPerToken.model)} (base ${formatInteger(cacheBytesPerToken.base)})`],
      ]),
    );
  });
}

/** Returns the target that the flags name: --ratio alone, or --rope-chunks with --latent-dim. */
function conversionTarget(options: ConvertOptions): ConversionTarget {
  const explicit = options.ropeChunks !== undefined || options.latentDim !== undefined;
  if (options.ratio !== undefined && explicit) {
    throw new InvalidArgumentError("pass either --ratio or --rope-chunks with --latent-dim, not both", { field: "ratio" });
  }
  if (options.ratio !== undefined) return { ratio: options.ratio };
  if (options.ropeChunks === undefined || options.latentDim === undefined) {
    throw new InvalidArgumentError("a cache target is missing; pass --ratio <fraction>, or both --rope-chunks and --latent-dim", {
      field: "ratio",
    });
  }
  return { ropeChunks: options.ropeChunks, latentDim: options.latentDim };
}

/** Returns "d_c", or "min to max (mean m)" when the layers' latent widths differ. */
function latentWidths(latentDims: readonly number[]): string {
  const min = Math.min(...latentDims);
  const max = Math.max(...latentDims);
  if (min === max) return String(min);
  const mean = latentDims.reduce((sum, dim) => sum + dim, 0) / latentDims.length;
  return `${min} to ${max} per layer (mean ${mean.toFixed(1)})`;
}
