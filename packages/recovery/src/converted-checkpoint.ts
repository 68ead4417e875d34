// The converted checkpoint a recovery starts from: its manifest (for the provenance the recovered
// checkpoint carries over) and the check that the base model is the one it was converted from.
import { readFile } from "node:fs/promises";
import { join } from "node:path";

import { CorruptFileError, InvalidArgumentError, type LoadedModel } from "@elitekv/core";
import { eliteKvManifestFileName, fileSha256, parseEliteKvManifest, type EliteKvManifest } from "@elitekv/models";

/** Reads and validates elitekv.json of the checkpoint `model` was loaded from. */
export async function readConvertedManifest(model: LoadedModel): Promise<EliteKvManifest> {
  if (model.source.format !== "elitekv") {
    throw new InvalidArgumentError(`${model.source.path} is not an EliteKV checkpoint folder; convert the base model first`, { field: "model" });
  }
  const path = join(model.source.path, eliteKvManifestFileName);
  const text = await readFile(path, "utf8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CorruptFileError(`elitekv.json is not valid JSON (${(error as Error).message}); convert the model again`, { file: path });
  }
  return parseEliteKvManifest(json, path);
}

/**
 * Checks that `base` is the model the checkpoint was converted from: the SHA-256 of its weight file must
 * equal the manifest's sourceSha256. Throws InvalidArgumentError otherwise.
 * NOTE: a Hugging Face model sharded over several safetensors files is identified by its first shard,
 * as the converter records it.
 */
export async function checkBaseModel(base: LoadedModel, manifest: EliteKvManifest): Promise<void> {
  const weightFile = base.source.files.find((path) => /\.(bin|gguf|safetensors)$/.test(path));
  if (weightFile === undefined) {
    throw new InvalidArgumentError(`${base.source.path} has no .bin, .gguf or .safetensors weight file to compare with the checkpoint`, {
      field: "base",
    });
  }
  const sha256 = await fileSha256(weightFile);
  if (sha256 !== manifest.sourceSha256) {
    throw new InvalidArgumentError(
      `${weightFile} has SHA-256 ${sha256}, but the checkpoint was converted from a model with SHA-256 ${manifest.sourceSha256}; ` +
        "pass the base model the checkpoint was converted from",
      { field: "base" },
    );
  }
}

/**
 * Checks that `model` is converted, `base` is not, and that their shapes match. Throws
 * InvalidArgumentError naming the mismatch.
 */
export function checkRecoveryModels(base: LoadedModel, model: LoadedModel): void {
  if (model.elite === undefined) {
    throw new InvalidArgumentError(`${model.source.path} is not an EliteKV checkpoint; convert the base model first, then recover the checkpoint`, {
      field: "model",
    });
  }
  if (base.elite !== undefined) {
    throw new InvalidArgumentError(`${base.source.path} is an EliteKV checkpoint; pass the base model it was converted from`, { field: "base" });
  }
  const fields = ["hiddenSize", "numLayers", "numHeads", "numKvHeads", "headDim", "vocabSize"] as const;
  for (const field of fields) {
    if (base.config[field] !== model.config[field]) {
      throw new InvalidArgumentError(
        `the base model has ${field} ${base.config[field]} but the converted model has ${model.config[field]}; pass the base model it was converted from`,
        { field: "base" },
      );
    }
  }
}
