// Writers that save one in-memory LLaMA model (canonical weights, q and k rows in the "half" RoPE layout)
// as a Hugging Face folder, a GGUF F32 file or a llama2.c version 0 checkpoint. Each file gets the q/k
// row layout and the tokenizer its loader expects. The byte formats come from the models package's test
// fixtures and writers. The q/k permutations are written out in those fixtures and in
// interleaved-rows.ts, independently of the library's permuteInterleavedRows.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

import { weightNames, type LoadedModel, type Tensor } from "@elitekv/core";
import { writeGguf } from "@elitekv/models";

import {
  f32,
  llamaCppPermute,
  sentencePieceMetadata,
  str,
  tokenType,
  u32,
  type MetadataList,
  type SentencePieceVocabulary,
} from "../../../models/test/fixtures/gguf/tiny-llama.js";
import {
  huggingFaceConfig,
  tinyTokenizerJson,
  writeHuggingFaceFolder,
  type HuggingFaceShape,
} from "../../../models/test/fixtures/huggingface-files.js";
import { encodeLlama2cTokenizer, encodeLlama2cV0 } from "../../../models/test/fixtures/llama2c-files.js";
import type { TinyLlama } from "../../../models/test/fixtures/tiny-llama.js";
import { halfToInterleavedRows } from "./interleaved-rows.js";

/** Returns the model's weight `name`, whose data the writers only read. */
function weight(model: LoadedModel, name: string): Float32Array {
  return model.weights.get(name).data;
}

function layerIndices(model: LoadedModel): number[] {
  return Array.from({ length: model.config.numLayers }, (_, layer) => layer);
}

/** Canonical weight name to Hugging Face tensor name, for the names a model of `numLayers` layers has. */
function huggingFaceNames(numLayers: number): Map<string, string> {
  const names = new Map<string, string>([
    [weightNames.tokenEmbedding, "model.embed_tokens.weight"],
    [weightNames.finalNorm, "model.norm.weight"],
    [weightNames.outputHead, "lm_head.weight"],
  ]);
  for (let layer = 0; layer < numLayers; layer++) {
    const prefix = `model.layers.${layer}`;
    names.set(weightNames.attentionNorm(layer), `${prefix}.input_layernorm.weight`);
    names.set(weightNames.queryProjection(layer), `${prefix}.self_attn.q_proj.weight`);
    names.set(weightNames.keyProjection(layer), `${prefix}.self_attn.k_proj.weight`);
    names.set(weightNames.valueProjection(layer), `${prefix}.self_attn.v_proj.weight`);
    names.set(weightNames.outputProjection(layer), `${prefix}.self_attn.o_proj.weight`);
    names.set(weightNames.ffnNorm(layer), `${prefix}.post_attention_layernorm.weight`);
    names.set(weightNames.gateProjection(layer), `${prefix}.mlp.gate_proj.weight`);
    names.set(weightNames.downProjection(layer), `${prefix}.mlp.down_proj.weight`);
    names.set(weightNames.upProjection(layer), `${prefix}.mlp.up_proj.weight`);
  }
  return names;
}

/** Canonical weight name to llama.cpp GGUF tensor name. */
function ggufNames(numLayers: number): Map<string, string> {
  const names = new Map<string, string>([
    [weightNames.tokenEmbedding, "token_embd.weight"],
    [weightNames.finalNorm, "output_norm.weight"],
    [weightNames.outputHead, "output.weight"],
  ]);
  for (let layer = 0; layer < numLayers; layer++) {
    const prefix = `blk.${layer}`;
    names.set(weightNames.attentionNorm(layer), `${prefix}.attn_norm.weight`);
    names.set(weightNames.queryProjection(layer), `${prefix}.attn_q.weight`);
    names.set(weightNames.keyProjection(layer), `${prefix}.attn_k.weight`);
    names.set(weightNames.valueProjection(layer), `${prefix}.attn_v.weight`);
    names.set(weightNames.outputProjection(layer), `${prefix}.attn_output.weight`);
    names.set(weightNames.ffnNorm(layer), `${prefix}.ffn_norm.weight`);
    names.set(weightNames.gateProjection(layer), `${prefix}.ffn_gate.weight`);
    names.set(weightNames.downProjection(layer), `${prefix}.ffn_down.weight`);
    names.set(weightNames.upProjection(layer), `${prefix}.ffn_up.weight`);
  }
  return names;
}

/** Returns the tensors the model has, under the names `names` maps them to. */
function renamedTensors(model: LoadedModel, names: Map<string, string>): Array<[string, Tensor]> {
  const renamed: Array<[string, Tensor]> = [];
  for (const [canonical, fileName] of names) {
    if (model.weights.has(canonical)) renamed.push([fileName, model.weights.get(canonical)]);
  }
  return renamed;
}

export interface HuggingFaceWriteOptions {
  /** Writes `head_dim` into config.json; without it the loader derives hidden_size / num_attention_heads. */
  explicitHeadDim: boolean;
}

/**
 * Writes config.json, model.safetensors (F32) and a word-level tokenizer.json of vocabSize tokens into
 * `folder`. No rows move, because transformers' LLaMA applies RoPE with rotate_half, the half layout.
 */
export async function writeHuggingFaceModel(model: LoadedModel, folder: string, options: HuggingFaceWriteOptions): Promise<string> {
  const { config } = model;
  const shape: HuggingFaceShape = {
    hiddenSize: config.hiddenSize,
    intermediateSize: config.intermediateSize,
    numLayers: config.numLayers,
    numHeads: config.numHeads,
    numKvHeads: config.numKvHeads,
    headDim: config.headDim,
    vocabSize: config.vocabSize,
    tieWordEmbeddings: config.tieWordEmbeddings,
  };
  const configJson = {
    ...huggingFaceConfig(shape, options.explicitHeadDim),
    max_position_embeddings: config.maxPositionEmbeddings,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.rope.theta,
  };

  const tensors = new Map(renamedTensors(model, huggingFaceNames(config.numLayers)));
  return writeHuggingFaceFolder(folder, { config: configJson, tensors, tokenizerJson: tinyTokenizerJson(config.vocabSize) });
}

/** Builds a SentencePiece-style vocabulary of exactly `size` tokens: <unk>, <s>, </s>, then word pieces. */
function sentencePieceVocabularyOfSize(size: number): SentencePieceVocabulary {
  const tokens = ["<unk>", "<s>", "</s>"];
  const types: number[] = [tokenType.unknown, tokenType.control, tokenType.control];
  for (let id = tokens.length; id < size; id++) {
    tokens.push(`▁w${id}`);
    types.push(tokenType.normal);
  }
  return { tokens, scores: tokens.map((_, id) => -id), types };
}

/**
 * Writes a GGUF version 3 file with F32 tensors and a vocabSize-token SentencePiece vocabulary. Query rows
 * are permuted with numHeads and key rows with numKvHeads, as LlamaModel.permute in llama.cpp's
 * convert_hf_to_gguf.py does.
 */
export async function writeGgufModel(model: LoadedModel, path: string): Promise<string> {
  const { config } = model;
  const queryNames = new Set(layerIndices(model).map(weightNames.queryProjection));
  const keyNames = new Set(layerIndices(model).map(weightNames.keyProjection));
  const names = ggufNames(config.numLayers);

  const tensors = [];
  for (const [canonical, fileName] of names) {
    if (!model.weights.has(canonical)) continue;
    const { shape, data } = model.weights.get(canonical);
    let stored = data;
    if (queryNames.has(canonical)) stored = llamaCppPermute(data, shape[0], shape[1], config.numHeads);
    if (keyNames.has(canonical)) stored = llamaCppPermute(data, shape[0], shape[1], config.numKvHeads);
    tensors.push({ name: fileName, shape, type: "F32" as const, data: stored });
  }

  const metadata: MetadataList = [
    ["general.architecture", str("llama")],
    ["general.name", str("loader parity model")],
    ["general.file_type", u32(0)],
    ["llama.context_length", u32(config.maxPositionEmbeddings)],
    ["llama.embedding_length", u32(config.hiddenSize)],
    ["llama.block_count", u32(config.numLayers)],
    ["llama.feed_forward_length", u32(config.intermediateSize)],
    ["llama.attention.head_count", u32(config.numHeads)],
    ["llama.attention.head_count_kv", u32(config.numKvHeads)],
    ["llama.attention.layer_norm_rms_epsilon", f32(config.rmsNormEps)],
    ["llama.rope.freq_base", f32(config.rope.theta)],
    ["llama.rope.dimension_count", u32(config.rope.rotaryDim)],
  ];
  if (config.headDim * config.numHeads !== config.hiddenSize) {
    metadata.push(["llama.attention.key_length", u32(config.headDim)], ["llama.attention.value_length", u32(config.headDim)]);
  }
  metadata.push(...sentencePieceMetadata(sentencePieceVocabularyOfSize(config.vocabSize)));

  await writeGguf(path, { metadata, tensors });
  return path;
}

/**
 * Writes `model.bin` (llama2.c version 0, float32, with the freq_cis tables) and `tok<vocabSize>.bin`
 * into `folder`, and returns the checkpoint path. Query and key rows take the interleaved layout, the key
 * rows permuted with numKvHeads. The format has no head_dim field, so hiddenSize must equal
 * numHeads × headDim.
 */
export async function writeLlama2cModel(model: LoadedModel, folder: string): Promise<string> {
  const { config } = model;
  if (config.numHeads * config.headDim !== config.hiddenSize) {
    throw new Error(
      `llama2.c derives head_dim from dim / n_heads, so it cannot store hidden ${config.hiddenSize} with ` +
        `${config.numHeads} heads of ${config.headDim}`,
    );
  }

  const layers = layerIndices(model);
  const perLayer = (name: (layer: number) => string) => layers.map((layer) => weight(model, name(layer)));
  const interleaved: TinyLlama = {
    spec: {
      dim: config.hiddenSize,
      hiddenDim: config.intermediateSize,
      numLayers: config.numLayers,
      numHeads: config.numHeads,
      numKvHeads: config.numKvHeads,
      vocabSize: config.vocabSize,
      seqLen: config.maxPositionEmbeddings,
      sharedClassifier: config.tieWordEmbeddings,
    },
    tokenEmbedding: weight(model, weightNames.tokenEmbedding),
    attentionNorm: perLayer(weightNames.attentionNorm),
    wq: layers.map((layer) =>
      halfToInterleavedRows(weight(model, weightNames.queryProjection(layer)), config.numHeads, config.headDim, config.hiddenSize),
    ),
    wk: layers.map((layer) =>
      halfToInterleavedRows(weight(model, weightNames.keyProjection(layer)), config.numKvHeads, config.headDim, config.hiddenSize),
    ),
    wv: perLayer(weightNames.valueProjection),
    wo: perLayer(weightNames.outputProjection),
    ffnNorm: perLayer(weightNames.ffnNorm),
    w1: perLayer(weightNames.gateProjection),
    w2: perLayer(weightNames.downProjection),
    w3: perLayer(weightNames.upProjection),
    finalNorm: weight(model, weightNames.finalNorm),
    outputHead: config.tieWordEmbeddings ? undefined : weight(model, weightNames.outputHead),
  };

  const pieces = ["<unk>", "\n<s>\n", "\n</s>\n", " "];
  for (let id = pieces.length; id < config.vocabSize; id++) pieces.push(`w${id}`);

  const checkpoint = join(folder, "model.bin");
  await writeFile(checkpoint, encodeLlama2cV0(interleaved));
  await writeFile(join(folder, `tok${config.vocabSize}.bin`), encodeLlama2cTokenizer(pieces));
  return checkpoint;
}
