// Loads a Hugging Face LLaMA-family model folder: config.json, generation_config.json (optional),
// safetensors weights (single file or sharded) and the tokenizer.json tokenizer.
import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";

import {
  FileNotFoundError,
  InvalidArgumentError,
  InvalidConfigError,
  silentProgress,
  type LoadedModel,
  type ProgressListener,
} from "@elitekv/core";

import { loadHuggingFaceTokenizer } from "../tokenizers/hugging-face-tokenizer.js";
import { readJsonFile } from "../tokenizers/read-json-file.js";
import { parseHuggingFaceConfig } from "./huggingface-config.js";
import { readHuggingFaceWeights } from "./huggingface-weights.js";

export interface HuggingFaceLoadOptions {
  /** A tokenizer.json file, or a folder holding one. Defaults to the model folder. */
  tokenizerPath?: string;
  onProgress?: ProgressListener;
}

export async function loadHuggingFaceModel(dir: string, options: HuggingFaceLoadOptions = {}): Promise<LoadedModel> {
  const stats = await stat(dir).catch(() => undefined);
  if (stats === undefined) throw new FileNotFoundError(dir, "pass the model folder that contains config.json");
  if (!stats.isDirectory()) {
    throw new InvalidArgumentError(`${dir} is not a folder; pass the Hugging Face model folder that contains config.json`, {
      file: dir,
    });
  }

  const configPath = join(dir, "config.json");
  const parsed = parseHuggingFaceConfig(
    await readJsonFile(configPath, "a Hugging Face model folder needs config.json"),
    configPath,
  );
  const generationConfig = await readJsonFile(join(dir, "generation_config.json"), undefined, { optional: true });
  const eosTokenIds = mergeEosIds(parsed.config.eosTokenIds, generationConfig);

  const tokenizer = await loadHuggingFaceTokenizer(options.tokenizerPath ?? dir, {
    bosTokenId: parsed.config.bosTokenId ?? undefined,
    eosTokenIds,
  });

  // Embedding rows may exceed the tokenizer's ids (padding rows; samplers mask them with
  // allowedVocabSize = tokenizer.vocabSize), but ids without a row would index past the embedding.
  if (tokenizer.vocabSize > parsed.config.vocabSize) {
    throw new InvalidConfigError(
      `the tokenizer has ${tokenizer.vocabSize} token ids but vocab_size (embedding rows) is ${parsed.config.vocabSize}; ` +
        "use the tokenizer that belongs to this model",
      { file: configPath, field: "vocab_size" },
    );
  }

  const loaded = await readHuggingFaceWeights(dir, parsed.config, options.onProgress ?? silentProgress);
  const config = {
    ...parsed.config,
    tieWordEmbeddings: loaded.tiedOutputHead,
    bosTokenId: parsed.config.bosTokenId ?? tokenizer.bosId,
    eosTokenIds: [...tokenizer.eosIds],
  };

  const details: Record<string, string | number | boolean> = {
    architecture: parsed.architecture,
    tokenizerVocabSize: tokenizer.vocabSize,
    shards: loaded.files.length,
  };
  if (parsed.torchDtype !== null) details.torchDtype = parsed.torchDtype;
  // NOTE: a sliding window is recorded but not applied; results differ from the reference model once
  // a context grows past the window (Mistral-7B-v0.1: 4096 tokens).
  if (parsed.slidingWindow !== null) details.slidingWindow = parsed.slidingWindow;

  return {
    config,
    weights: loaded.weights,
    tokenizer,
    source: { format: "huggingface", path: dir, files: [resolve(configPath), ...loaded.files], details },
  };
}

/** Returns config.json's EOS ids followed by any extra ones from generation_config.json. */
function mergeEosIds(fromConfig: readonly number[], generationConfig: unknown): number[] {
  const ids = [...fromConfig];
  const value = (generationConfig as { eos_token_id?: unknown } | undefined)?.eos_token_id;
  const extra = Array.isArray(value) ? value : [value];
  for (const id of extra) {
    if (typeof id === "number" && Number.isSafeInteger(id) && id >= 0 && !ids.includes(id)) ids.push(id);
  }
  return ids;
}
