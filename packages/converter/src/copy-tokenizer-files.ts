// The tokenizer of a checkpoint, taken from the source model's files: Hugging Face tokenizer files are
// copied, a llama2.c tok*.bin is copied, and a GGUF source gets a vocabulary-only tokenizer.gguf that
// carries its tokenizer.* and general.architecture metadata.
import { copyFile, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

import { InvalidArgumentError, type LoadedModel } from "@elitekv/core";
import {
  eliteKvTokenizerFiles,
  GgufValueType,
  readGgufHeader,
  readGgufMetadata,
  writeGguf,
  type GgufWriterValue,
} from "@elitekv/models";

/** Optional Hugging Face files that the tokenizer loader reads when they are present. */
const huggingFaceTokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"];

/** Writes the tokenizer of `model` into `dir` and returns the names of the files written. */
export async function copyTokenizerFiles(model: LoadedModel, dir: string): Promise<string[]> {
  switch (model.source.format) {
    case "huggingface":
      return copyHuggingFaceTokenizer(model, dir);
    case "llama2c":
      return copyLlama2cTokenizer(model, dir);
    case "gguf":
      return [await writeGgufTokenizer(model, dir)];
    case "elitekv":
      throw new InvalidArgumentError("the model is already an EliteKV checkpoint; write the checkpoint of its base model instead", {
        field: "model",
      });
  }
}

async function copyHuggingFaceTokenizer(model: LoadedModel, dir: string): Promise<string[]> {
  // The Hugging Face loader lists config.json first, so its folder is the model folder.
  const sourceDir = dirname(model.source.files[0] ?? join(model.source.path, "config.json"));
  const written: string[] = [];
  for (const name of huggingFaceTokenizerFiles) {
    const source = join(sourceDir, name);
    if (!(await isFile(source))) {
      if (name === "tokenizer.json") {
        throw new InvalidArgumentError(`${source} not found; the checkpoint needs the source model's tokenizer.json`, { file: source });
      }
      continue;
    }
    await copyFile(source, join(dir, name));
    written.push(name);
  }
  return written;
}

async function copyLlama2cTokenizer(model: LoadedModel, dir: string): Promise<string[]> {
  const recorded = model.source.details.tokenizer;
  const source = typeof recorded === "string" ? recorded : model.source.files[1];
  if (source === undefined || !(await isFile(source))) {
    throw new InvalidArgumentError(`the llama2.c tokenizer ${source ?? "(not recorded)"} was not found; load the model with its tok*.bin`, {
      field: "model.source.files",
    });
  }
  // The checkpoint loader looks for tok*.bin, so a tokenizer under another name is renamed.
  const name = /^tok.*\.bin$/.test(basename(source)) ? basename(source) : "tokenizer.bin";
  await copyFile(source, join(dir, name));
  return [name];
}

async function writeGgufTokenizer(model: LoadedModel, dir: string): Promise<string> {
  const source = model.source.files[0];
  if (source === undefined) {
    throw new InvalidArgumentError("the GGUF source file is not recorded in model.source.files; load the model with loadModel", {
      field: "model.source.files",
    });
  }
  const metadata = await readGgufMetadata(await readGgufHeader(source));

  const entries: Array<readonly [string, GgufWriterValue]> = [];
  for (const key of metadata.keys()) {
    if (key !== "general.architecture" && !key.startsWith("tokenizer.")) continue;
    const entry = metadata.entry(key);
    if (entry === undefined) continue;
    if (entry.type === GgufValueType.ARRAY) {
      if (entry.itemType === undefined || entry.itemType === GgufValueType.ARRAY) {
        throw new InvalidArgumentError(`metadata ${key} is an array without a scalar item type; it cannot be copied`, { file: source, field: key });
      }
      entries.push([key, { type: GgufValueType.ARRAY, itemType: entry.itemType, value: entry.value as Array<number | bigint | boolean | string> }]);
    } else {
      entries.push([key, { type: entry.type, value: entry.value as number | bigint | boolean | string }]);
    }
  }

  await writeGguf(join(dir, eliteKvTokenizerFiles.gguf), { metadata: entries, tensors: [] });
  return eliteKvTokenizerFiles.gguf;
}

async function isFile(path: string): Promise<boolean> {
  const stats = await stat(path).catch(() => undefined);
  return stats?.isFile() === true;
}
