// Loads an EliteKV checkpoint folder: elitekv.json, model.safetensors and whichever tokenizer the
// writer copied (tokenizer.json, a llama2.c tok*.bin or a vocabulary-only tokenizer.gguf).
import { readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";

import {
  CorruptFileError,
  FileNotFoundError,
  InvalidArgumentError,
  InvalidConfigError,
  InvalidTokenizerError,
  MapWeightStore,
  silentProgress,
  weightNames,
  type LoadedModel,
  type ProgressListener,
  type Tensor,
  type Tokenizer,
} from "@elitekv/core";

import { SafetensorsReader } from "../safetensors/read-safetensors.js";
import { loadGgufTokenizer } from "../tokenizers/gguf-tokenizer.js";
import { loadHuggingFaceTokenizer } from "../tokenizers/hugging-face-tokenizer.js";
import { checkLlama2cTokenizerSize } from "../llama2c/load-llama2c-model.js";
import { readLlama2cTokenizer } from "../tokenizers/llama2c-tokenizer.js";
import { readJsonFile } from "../tokenizers/read-json-file.js";
import {
  eliteConfigOfManifest,
  eliteKvManifestFileName,
  eliteKvWeightsFileName,
  type EliteKvManifest,
} from "./elitekv-manifest.js";
import { eliteKvWeightShapes } from "./elitekv-weight-shapes.js";
import { parseEliteKvManifest } from "./parse-elitekv-manifest.js";

export interface EliteKvLoadOptions {
  /**
   * A tokenizer file or a folder holding one, used instead of the checkpoint's own. The file type follows
   * the extension: .json for tokenizer.json, .gguf for a GGUF vocabulary, anything else for llama2.c.
   */
  tokenizerPath?: string;
  onProgress?: ProgressListener;
}

/** Tokenizer file names of a checkpoint, in the order they are looked for. */
export const eliteKvTokenizerFiles = { huggingface: "tokenizer.json", gguf: "tokenizer.gguf" } as const;
const llama2cTokenizerPattern = /^tok.*\.bin$/;

/**
 * Loads the EliteKV checkpoint in `dir`. The manifest is validated before any weight is read, every
 * tensor's shape is checked against the base config and elite dims, and the result has `elite` set
 * and `source.format` "elitekv".
 */
export async function loadEliteKvModel(dir: string, options: EliteKvLoadOptions = {}): Promise<LoadedModel> {
  const stats = await stat(dir).catch(() => undefined);
  if (stats === undefined) throw new FileNotFoundError(dir, "pass the EliteKV checkpoint folder that contains elitekv.json");
  if (!stats.isDirectory()) {
    throw new InvalidArgumentError(`${dir} is not a folder; pass the EliteKV checkpoint folder that contains elitekv.json`, { file: dir });
  }

  const manifestPath = join(dir, eliteKvManifestFileName);
  const manifest = parseEliteKvManifest(
    await readJsonFile(manifestPath, "an EliteKV checkpoint folder needs elitekv.json; convert the model again"),
    manifestPath,
  );
  const config = manifest.baseConfig;
  const elite = eliteConfigOfManifest(manifest);

  const tokenizer = await loadCheckpointTokenizer(options.tokenizerPath ?? dir, manifest);
  if (tokenizer.tokenizer.vocabSize > config.vocabSize) {
    throw new InvalidConfigError(
      `the tokenizer has ${tokenizer.tokenizer.vocabSize} token ids but the model has ${config.vocabSize} embedding rows; ` +
        "use the tokenizer that belongs to this model",
      { file: manifestPath, field: "baseConfig.vocabSize" },
    );
  }

  const weightsPath = join(dir, eliteKvWeightsFileName);
  const weights = await readCheckpointWeights(weightsPath, manifest, options.onProgress ?? silentProgress);

  return {
    config,
    weights,
    tokenizer: tokenizer.tokenizer,
    elite,
    source: {
      format: "elitekv",
      path: dir,
      files: [resolve(manifestPath), resolve(weightsPath), resolve(tokenizer.path)],
      details: {
        formatVersion: manifest.formatVersion,
        ratio: manifest.elite.ratio,
        ropeChunksPerHead: manifest.elite.ropeChunksPerHead,
        svd: manifest.svd,
        dtype: manifest.dtype,
        rankingStrategy: manifest.ranking.strategy,
        sourceSha256: manifest.sourceSha256,
        tokenizer: resolve(tokenizer.path),
      },
    },
  };
}

async function readCheckpointWeights(path: string, manifest: EliteKvManifest, onProgress: ProgressListener): Promise<MapWeightStore> {
  const expected = eliteKvWeightShapes(manifest.baseConfig, eliteConfigOfManifest(manifest));
  const reader = await SafetensorsReader.open(path);
  try {
    // Check names and shapes for the whole file before reading any tensor data.
    for (const name of reader.names()) {
      const tiedHead = name === weightNames.outputHead && manifest.baseConfig.tieWordEmbeddings;
      if (!expected.has(name) && !tiedHead) {
        throw new CorruptFileError(`unexpected tensor ${name}; an EliteKV checkpoint contains only the converted model's weights, so convert the model again`, {
          file: path,
          field: `tensor ${name}`,
        });
      }
    }
    if (manifest.baseConfig.tieWordEmbeddings && reader.info(weightNames.outputHead) !== undefined) {
      expected.set(weightNames.outputHead, [manifest.baseConfig.vocabSize, manifest.baseConfig.hiddenSize]);
    }
    for (const [name, shape] of expected) {
      const info = reader.info(name);
      if (info === undefined) {
        throw new CorruptFileError(`tensor ${name} is missing; convert the model again`, { file: path, field: `tensor ${name}` });
      }
      if (info.shape.length !== shape.length || info.shape.some((dim, index) => dim !== shape[index])) {
        throw new CorruptFileError(
          `tensor ${name} has shape [${info.shape.join(", ")}] but elitekv.json implies [${shape.join(", ")}]`,
          { file: path, field: `tensor ${name}` },
        );
      }
    }

    const task = "load";
    const started = Date.now();
    const tensors = new Map<string, Tensor>();
    onProgress({ type: "start", task, total: expected.size, unit: "tensors", message: `reading ${path}` });
    for (const name of expected.keys()) {
      const tensor = await reader.read(name);
      tensors.set(name, { shape: tensor.shape, data: tensor.data });
      onProgress({ type: "advance", task, current: tensors.size, total: expected.size, unit: "tensors" });
    }
    onProgress({ type: "end", task, seconds: (Date.now() - started) / 1000 });
    return new MapWeightStore(tensors, path);
  } finally {
    await reader.close();
  }
}

/** Loads the tokenizer file `path`, or the first tokenizer found in the folder `path`. */
async function loadCheckpointTokenizer(path: string, manifest: EliteKvManifest): Promise<{ tokenizer: Tokenizer; path: string }> {
  const config = manifest.baseConfig;
  const stats = await stat(path).catch(() => undefined);
  if (stats === undefined) throw new FileNotFoundError(path, "pass a tokenizer.json, tokenizer.gguf or tok*.bin file, or a folder holding one");
  if (!stats.isDirectory()) {
    if (path.endsWith(".json")) {
      return { tokenizer: await loadHuggingFaceTokenizer(path, { bosTokenId: config.bosTokenId ?? undefined, eosTokenIds: config.eosTokenIds }), path };
    }
    if (path.endsWith(".gguf")) return { tokenizer: await loadGgufTokenizer(path), path };
    return { tokenizer: await readCheckedLlama2cTokenizer(path, manifest), path };
  }

  const dir = path;
  const huggingFacePath = join(dir, eliteKvTokenizerFiles.huggingface);
  if (await isFile(huggingFacePath)) {
    const tokenizer = await loadHuggingFaceTokenizer(dir, {
      bosTokenId: config.bosTokenId ?? undefined,
      eosTokenIds: config.eosTokenIds,
    });
    return { tokenizer, path: huggingFacePath };
  }

  const llama2cNames = (await readdir(dir)).filter((name) => llama2cTokenizerPattern.test(name)).sort();
  if (llama2cNames.length > 1) {
    throw new InvalidTokenizerError(`found several llama2.c tokenizers (${llama2cNames.join(", ")}); keep only the one the writer copied`, {
      file: dir,
    });
  }
  if (llama2cNames.length === 1) {
    const path = join(dir, llama2cNames[0]);
    return { tokenizer: await readCheckedLlama2cTokenizer(path, manifest), path };
  }

  const ggufPath = join(dir, eliteKvTokenizerFiles.gguf);
  if (await isFile(ggufPath)) return { tokenizer: await loadGgufTokenizer(ggufPath), path: ggufPath };

  throw new InvalidTokenizerError(
    "no tokenizer found; an EliteKV checkpoint needs tokenizer.json, a llama2.c tok*.bin or tokenizer.gguf; convert the model again",
    { file: dir },
  );
}

/** Reads a llama2.c tokenizer and requires exactly vocab_size tokens, as the llama2.c loader does. */
async function readCheckedLlama2cTokenizer(path: string, manifest: EliteKvManifest): Promise<Tokenizer> {
  const tokenizer = await readLlama2cTokenizer(path);
  checkLlama2cTokenizerSize(tokenizer.vocabSize, manifest.baseConfig.vocabSize, path, path);
  return tokenizer;
}

async function isFile(path: string): Promise<boolean> {
  const stats = await stat(path).catch(() => undefined);
  return stats?.isFile() === true;
}
