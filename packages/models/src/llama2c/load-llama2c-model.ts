// Loads a float32 llama2.c checkpoint (legacy version 0 or version 1) and its tok*.bin tokenizer into
// canonical weights. llama2.c pairs RoPE dims interleaved (2j, 2j + 1), so wq and wk rows are permuted
// to the "half" layout here.
import { readdir, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";

import {
  CorruptFileError,
  InvalidArgumentError,
  InvalidConfigError,
  MapWeightStore,
  permuteInterleavedRows,
  silentProgress,
  validateModelConfig,
  weightNames,
  type LoadedModel,
  type ModelConfig,
  type ProgressListener,
  type Tensor,
} from "@elitekv/core";

import { closeBinaryFile, openBinaryFile, readBytes, readFloat32, type BinaryFile } from "../safetensors/binary-file.js";
import { readLlama2cTokenizer } from "../tokenizers/llama2c-tokenizer.js";
import {
  llama2cVersionedHeaderBytes,
  parseLlama2cLayout,
  type Llama2cHeader,
  type Llama2cLayout,
  type Llama2cSegment,
} from "./llama2c-header.js";

export interface Llama2cLoadOptions {
  /** A tok*.bin file, or a folder holding exactly one. Defaults to the one beside the model. */
  tokenizerPath?: string;
  onProgress?: ProgressListener;
}

/** Fixed by llama2.c run.c, which stores neither in the checkpoint. */
const llama2cRopeTheta = 10000;
const llama2cRmsNormEps = 1e-5;

export async function loadLlama2cModel(path: string, options: Llama2cLoadOptions = {}): Promise<LoadedModel> {
  const onProgress = options.onProgress ?? silentProgress;
  const file = await openBinaryFile(path, "pass the path of a llama2.c .bin checkpoint");

  try {
    const headerBytes = await readBytes(file, 0, Math.min(file.size, llama2cVersionedHeaderBytes), "header");
    const layout = parseLlama2cLayout(headerBytes, file.size, path);
    const header = layout.header;

    // The tokenizer is small: read and check it before the weights, so that a wrong one fails fast.
    const tokenizerPath = await findLlama2cTokenizer(path, options.tokenizerPath);
    const tokenizer = await readLlama2cTokenizer(tokenizerPath);
    checkLlama2cTokenizerSize(tokenizer.vocabSize, header.vocabSize, path, tokenizerPath);

    const weights = await readLlama2cWeights(file, layout, onProgress);
    return {
      config: llama2cModelConfig(header, path),
      weights,
      tokenizer,
      source: {
        format: "llama2c",
        path,
        files: [resolve(path), resolve(tokenizerPath)],
        details: {
          version: header.version,
          sharedClassifier: header.sharedClassifier,
          freqCisTables: layout.hasFreqCisTables,
          tokenizer: resolve(tokenizerPath),
        },
      },
    };
  } finally {
    await closeBinaryFile(file);
  }
}

/**
 * Requires exactly vocab_size tokens, as run.c reads exactly that many. A tokenizer file cut between two
 * entries parses cleanly, so the count is the only sign of the truncation.
 */
export function checkLlama2cTokenizerSize(tokens: number, vocabSize: number, modelPath: string, tokenizerPath: string): void {
  if (tokens > vocabSize) {
    throw new InvalidConfigError(
      `tokenizer ${tokenizerPath} has ${tokens} tokens but the model has only ${vocabSize} ` +
        "embedding rows; use the tokenizer the model was trained with",
      { file: modelPath, field: "vocab_size" },
    );
  }
  if (tokens < vocabSize) {
    throw new CorruptFileError(
      `has ${tokens} tokens but ${basename(modelPath)} has vocab_size ${vocabSize}, and llama2.c reads exactly ` +
        "vocab_size tokens; the tokenizer file is truncated or belongs to another model, pass the tok*.bin " +
        "the model was trained with",
      { file: tokenizerPath, field: "vocab_size" },
    );
  }
}

export function llama2cModelConfig(header: Llama2cHeader, source: string): ModelConfig {
  return validateModelConfig(
    {
      architecture: "llama",
      hiddenSize: header.dim,
      intermediateSize: header.hiddenDim,
      numLayers: header.numLayers,
      numHeads: header.numHeads,
      numKvHeads: header.numKvHeads,
      headDim: header.headSize,
      vocabSize: header.vocabSize,
      maxPositionEmbeddings: header.seqLen,
      rmsNormEps: llama2cRmsNormEps,
      rope: { theta: llama2cRopeTheta, scaling: { type: "none" }, rotaryDim: header.headSize, sourceLayout: "interleaved" },
      tieWordEmbeddings: header.sharedClassifier,
      bosTokenId: 1,
      eosTokenIds: [2],
    },
    source,
  );
}

async function readLlama2cWeights(
  file: BinaryFile,
  layout: Llama2cLayout,
  onProgress: ProgressListener,
): Promise<MapWeightStore> {
  const header = layout.header;
  const tensors = new Map<string, Tensor>();
  const task = "load";
  const total = layout.segments.reduce((sum, segment) => sum + segment.byteLength, 0);
  const started = Date.now();
  let done = 0;
  onProgress({ type: "start", task, total, unit: "B", message: `reading ${basename(file.path)}` });

  for (const segment of layout.segments) {
    if (segment.kind !== "freq_cis_real" && segment.kind !== "freq_cis_imag") {
      const values = await readFloat32(file, segment.offset, segment.byteLength / 4, segment.kind);
      storeSegment(tensors, segment, values, header);
    }
    done += segment.byteLength;
    onProgress({ type: "advance", task, current: done, total, unit: "B" });
  }

  onProgress({ type: "end", task, seconds: (Date.now() - started) / 1000 });
  return new MapWeightStore(tensors, file.path);
}

/** Splits a segment into per-layer tensors under canonical names, permuting wq and wk rows. */
function storeSegment(tensors: Map<string, Tensor>, segment: Llama2cSegment, values: Float32Array, header: Llama2cHeader): void {
  const itemLength = values.length / segment.items;
  const shape = segment.shape;

  for (let layer = 0; layer < segment.items; layer++) {
    let data = values.subarray(layer * itemLength, (layer + 1) * itemLength);
    if (segment.kind === "wq") data = permuteInterleavedRows(data, header.numHeads, header.headSize, header.dim);
    if (segment.kind === "wk") data = permuteInterleavedRows(data, header.numKvHeads, header.headSize, header.dim);
    tensors.set(canonicalName(segment, layer), { shape: [...shape], data });
  }
}

function canonicalName(segment: Llama2cSegment, layer: number): string {
  switch (segment.kind) {
    case "token_embedding":
      return weightNames.tokenEmbedding;
    case "final_norm":
      return weightNames.finalNorm;
    case "output_head":
      return weightNames.outputHead;
    case "attention_norm":
      return weightNames.attentionNorm(layer);
    case "ffn_norm":
      return weightNames.ffnNorm(layer);
    case "wq":
      return weightNames.queryProjection(layer);
    case "wk":
      return weightNames.keyProjection(layer);
    case "wv":
      return weightNames.valueProjection(layer);
    case "wo":
      return weightNames.outputProjection(layer);
    case "w1":
      return weightNames.gateProjection(layer);
    case "w2":
      return weightNames.downProjection(layer);
    case "w3":
      return weightNames.upProjection(layer);
    default:
      throw new Error(`segment ${segment.kind} has no canonical weight`);
  }
}

const tokenizerFilePattern = /^tok.*\.bin$/;

/**
 * Returns the tokenizer to use: `requested` when it is a file, else the only tok*.bin in `requested`
 * (a folder) or beside the model. Zero or several candidates raise InvalidArgumentError listing them.
 */
export async function findLlama2cTokenizer(modelPath: string, requested?: string): Promise<string> {
  let folder = dirname(modelPath);
  if (requested !== undefined) {
    const stats = await stat(requested).catch(() => undefined);
    if (stats === undefined) {
      throw new InvalidArgumentError(`tokenizer ${requested} not found; pass the llama2.c tokenizer file (tok*.bin)`, {
        field: "tokenizer",
      });
    }
    if (!stats.isDirectory()) return requested;
    folder = requested;
  }

  const modelName = basename(modelPath);
  const names = (await readdir(folder)).filter((name) => tokenizerFilePattern.test(name) && name !== modelName).sort();
  if (names.length === 1) return join(folder, names[0]);

  const found = names.length === 0 ? "none was found" : `found ${names.join(", ")}`;
  throw new InvalidArgumentError(
    `llama2.c models need exactly one tokenizer file (tok*.bin) in ${folder}, but ${found}; ` +
      "pass the tokenizer path with --tokenizer",
    { field: "tokenizer" },
  );
}
