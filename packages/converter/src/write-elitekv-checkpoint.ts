// The EliteKV checkpoint writer: model.safetensors, elitekv.json and the tokenizer, written into a
// temporary sibling folder and renamed into place, so a failed write never leaves a partial checkpoint.
import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";

import {
  FileNotFoundError,
  InvalidArgumentError,
  silentProgress,
  type LoadedModel,
  type ProgressListener,
  type Tensor,
} from "@elitekv/core";
import {
  buildEliteKvManifest,
  eliteKvManifestFileName,
  eliteKvWeightShapes,
  eliteKvWeightsFileName,
  writeSafetensors,
  type EliteKvAllocation,
  type EliteKvRankingProvenance,
  type EliteKvRecovery,
  type EliteKvStorageDtype,
  type EliteKvSvdMode,
} from "@elitekv/models";

import type { ConvertedModel } from "./convert-model.js";
import { copyTokenizerFiles } from "./copy-tokenizer-files.js";

export interface CheckpointProvenance {
  ranking: EliteKvRankingProvenance;
  /** SHA-256 of the source model's weight file, lowercase hex. */
  sourceSha256: string;
  svd: EliteKvSvdMode;
  /** How r and d_c were chosen; omitted when the caller gave them. */
  allocation?: EliteKvAllocation;
  /** How the weights were refitted after conversion; omitted for a plain conversion. */
  recovery?: EliteKvRecovery;
}

export interface WriteCheckpointInput {
  /** The source model: its config and tokenizer files go into the checkpoint. */
  model: LoadedModel;
  converted: ConvertedModel;
  provenance: CheckpointProvenance;
  dtype: EliteKvStorageDtype;
  /** Replace an existing non-empty folder at `dir`. Defaults to false. */
  overwrite?: boolean;
  onProgress?: ProgressListener;
}

/** Returns the files of a written checkpoint, names relative to its folder. */
export interface WrittenCheckpoint {
  dir: string;
  files: string[];
}

/**
 * Writes the EliteKV checkpoint of `input.converted` to the folder `dir`. Throws FileNotFoundError for a
 * missing parent folder, and InvalidArgumentError for a non-empty `dir` without `overwrite` or for weights
 * that do not match the elite config. When any step fails, the folder at `dir` is left as it was.
 */
export async function writeEliteKvCheckpoint(dir: string, input: WriteCheckpointInput): Promise<WrittenCheckpoint> {
  const target = resolve(dir);
  const parent = dirname(target);
  const parentStats = await stat(parent).catch(() => undefined);
  if (parentStats?.isDirectory() !== true) {
    throw new FileNotFoundError(parent, "the checkpoint folder's parent must exist; create it first");
  }
  const existing = await folderState(target);
  if (existing === "file") {
    throw new InvalidArgumentError(`${target} is a file; pass a folder path for the checkpoint`, { file: target });
  }
  if (existing === "non-empty" && input.overwrite !== true) {
    throw new InvalidArgumentError(`${target} already exists and is not empty; pass overwrite: true to replace it or choose another folder`, {
      file: target,
    });
  }

  const manifest = buildEliteKvManifest({
    baseConfig: input.model.config,
    elite: input.converted.elite,
    svd: input.provenance.svd,
    dtype: input.dtype,
    ranking: input.provenance.ranking,
    sourceSha256: input.provenance.sourceSha256,
    allocation: input.provenance.allocation,
    recovery: input.provenance.recovery,
  });
  if (!/^[0-9a-f]{64}$/.test(manifest.sourceSha256)) {
    throw new InvalidArgumentError(`sourceSha256 must be 64 lowercase hex digits, got ${JSON.stringify(manifest.sourceSha256)}`, {
      field: "provenance.sourceSha256",
    });
  }
  const tensors = checkpointTensors(input);

  const staging = join(parent, `.${basename(target)}.elitekv-tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  const onProgress = input.onProgress ?? silentProgress;
  const task = "write";
  const started = Date.now();
  await mkdir(staging);
  try {
    onProgress({ type: "start", task, total: 3, unit: "files", message: `writing ${target}` });
    await writeSafetensors(join(staging, eliteKvWeightsFileName), tensors, { format: "elitekv" }, { dtype: input.dtype });
    onProgress({ type: "advance", task, current: 1, total: 3, unit: "files", message: eliteKvWeightsFileName });
    await writeFile(join(staging, eliteKvManifestFileName), `${JSON.stringify(manifest, null, 2)}\n`);
    onProgress({ type: "advance", task, current: 2, total: 3, unit: "files", message: eliteKvManifestFileName });
    const tokenizerFiles = await copyTokenizerFiles(input.model, staging);
    onProgress({ type: "advance", task, current: 3, total: 3, unit: "files", message: tokenizerFiles.join(", ") });

    await moveIntoPlace(staging, target, existing);
    onProgress({ type: "end", task, seconds: (Date.now() - started) / 1000 });
    return { dir: target, files: [eliteKvWeightsFileName, eliteKvManifestFileName, ...tokenizerFiles] };
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

/** Returns the converted weights in the order of the expected shapes, after checking every shape. */
function checkpointTensors(input: WriteCheckpointInput): Map<string, Tensor> {
  const expected = eliteKvWeightShapes(input.model.config, input.converted.elite);
  const weights = input.converted.weights;
  const tensors = new Map<string, Tensor>();
  for (const [name, shape] of expected) {
    if (!weights.has(name)) {
      throw new InvalidArgumentError(`converted weights lack ${name}; pass the result of convertModel`, { field: `converted.weights.${name}` });
    }
    const tensor = weights.get(name);
    if (tensor.shape.length !== shape.length || tensor.shape.some((dim, index) => dim !== shape[index])) {
      throw new InvalidArgumentError(`${name} has shape [${tensor.shape.join(", ")}] but the elite config needs [${shape.join(", ")}]`, {
        field: `converted.weights.${name}`,
      });
    }
    tensors.set(name, tensor);
  }
  return tensors;
}

type FolderState = "missing" | "empty" | "non-empty" | "file";

async function folderState(path: string): Promise<FolderState> {
  const stats = await stat(path).catch(() => undefined);
  if (stats === undefined) return "missing";
  if (!stats.isDirectory()) return "file";
  return (await readdir(path)).length === 0 ? "empty" : "non-empty";
}

/**
 * Renames the staging folder to `target`. An existing folder is first moved aside and removed only after
 * the rename succeeded, so a failure restores it.
 */
async function moveIntoPlace(staging: string, target: string, existing: FolderState): Promise<void> {
  if (existing === "missing") {
    await rename(staging, target);
    return;
  }

  const aside = `${staging}-previous`;
  await rename(target, aside);
  try {
    await rename(staging, target);
  } catch (error) {
    await rename(aside, target);
    throw error;
  }
  await rm(aside, { recursive: true, force: true });
}
