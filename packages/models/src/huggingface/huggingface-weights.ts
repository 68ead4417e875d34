// Weights of a Hugging Face LLaMA folder: model.safetensors or the shards of
// model.safetensors.index.json, mapped to canonical names. Every header is read and every name, dtype
// and shape is checked against the config before any tensor data is read.
import { readdir, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";

import {
  CorruptFileError,
  FileNotFoundError,
  InvalidConfigError,
  MapWeightStore,
  UnknownFormatError,
  UnsupportedArchitectureError,
  UnsupportedTensorTypeError,
  weightNames,
  type ModelConfig,
  type ProgressListener,
  type Tensor,
} from "@elitekv/core";

import { SafetensorsReader } from "../safetensors/read-safetensors.js";
import { isSupportedSafetensorsDtype, supportedSafetensorsDtypes } from "../safetensors/safetensors-header.js";
import { readJsonFile } from "../tokenizers/read-json-file.js";

export const singleFileName = "model.safetensors";
export const shardIndexName = "model.safetensors.index.json";

/** Tensors some exports carry that hold no weights (precomputed RoPE inverse frequencies). */
const ignoredTensorPattern = /\.rotary_emb\.inv_freq$/;

/** Name of a per-layer tensor, capturing the layer index. */
const layerTensorPattern = /^model\.layers\.(\d+)\./;

export interface HuggingFaceWeights {
  weights: MapWeightStore;
  /** Absolute paths of the safetensors files read. */
  files: string[];
  /** True when the output head is the token embedding (lm_head absent, or tied by the config). */
  tiedOutputHead: boolean;
}

interface ExpectedTensor {
  name: string;
  canonical: string;
  shape: number[];
  /** The stored tensor that provides it: `name`, or the tensor it was deduplicated into. */
  source: string;
}

const embeddingName = "model.embed_tokens.weight";
const outputHeadName = "lm_head.weight";

/**
 * Returns the safetensors files of `dir`: model.safetensors, else the shards listed by
 * model.safetensors.index.json (each checked to exist), with the index's weight map.
 */
export async function locateSafetensorsFiles(
  dir: string,
): Promise<{ files: string[]; weightMap?: Map<string, string>; indexPath?: string }> {
  const single = join(dir, singleFileName);
  if (await isFile(single)) return { files: [single] };

  const indexPath = join(dir, shardIndexName);
  if (!(await isFile(indexPath))) {
    const names = await readdir(dir);
    const pytorch = names.find((name) => name.endsWith(".bin") || name.endsWith(".pt") || name.endsWith(".pth"));
    if (pytorch !== undefined) {
      throw new UnknownFormatError(
        join(dir, pytorch),
        "PyTorch checkpoints are not supported; convert the model to safetensors (model.safetensors)",
      );
    }
    throw new FileNotFoundError(single, `the folder has neither ${singleFileName} nor ${shardIndexName}`);
  }

  const index = await readJsonFile(indexPath);
  const weightMapValue = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMapValue !== "object" || weightMapValue === null || Array.isArray(weightMapValue)) {
    throw new CorruptFileError("weight_map must be an object mapping tensor names to shard files", {
      file: indexPath,
      field: "weight_map",
    });
  }

  const weightMap = new Map<string, string>();
  for (const [name, shard] of Object.entries(weightMapValue)) {
    // Shards must be plain file names in the same folder, so an index cannot point anywhere else.
    if (typeof shard !== "string" || shard === "" || shard !== basename(shard) || shard === "." || shard === "..") {
      throw new CorruptFileError(`weight_map entry for ${name} must be a file name in the same folder, got ${JSON.stringify(shard)}`, {
        file: indexPath,
        field: `weight_map.${name}`,
      });
    }
    weightMap.set(name, shard);
  }

  const shards = [...new Set(weightMap.values())].sort();
  for (const shard of shards) {
    if (!(await isFile(join(dir, shard)))) {
      throw new FileNotFoundError(join(dir, shard), `${shardIndexName} lists this shard; download every shard`);
    }
  }
  return { files: shards.map((shard) => join(dir, shard)), weightMap, indexPath };
}

/** Reads and checks the weights of the folder `dir` for `config`. */
export async function readHuggingFaceWeights(
  dir: string,
  config: ModelConfig,
  onProgress: ProgressListener,
): Promise<HuggingFaceWeights> {
  const located = await locateSafetensorsFiles(dir);
  const readers: SafetensorsReader[] = [];
  try {
    for (const file of located.files) readers.push(await SafetensorsReader.open(file));
    const owners = mapTensorOwners(readers, located.weightMap, located.indexPath);

    checkLayerCount(config, owners, dir);
    const hasOutputHead = owners.has(outputHeadName);
    const tiedOutputHead = config.tieWordEmbeddings || !hasOutputHead;
    const expected = expectedTensors(config, !tiedOutputHead);
    resolveSources(expected, owners, readers, tiedOutputHead);
    checkNames(owners, expected, located.files);
    for (const tensor of expected) checkShapeAndDtype(tensor, owners.get(tensor.source) as SafetensorsReader);

    const tensors = new Map<string, Tensor>();
    const total = expected.reduce((sum, tensor) => sum + byteLength(tensor, owners), 0);
    const task = "load";
    const started = Date.now();
    let done = 0;
    onProgress({ type: "start", task, total, unit: "B", message: `reading ${located.files.length} safetensors file(s)` });
    for (const tensor of expected) {
      const read = await (owners.get(tensor.source) as SafetensorsReader).read(tensor.source);
      tensors.set(tensor.canonical, { shape: read.shape, data: read.data });
      done += byteLength(tensor, owners);
      onProgress({ type: "advance", task, current: done, total, unit: "B" });
    }
    onProgress({ type: "end", task, seconds: (Date.now() - started) / 1000 });

    return { weights: new MapWeightStore(tensors, dir), files: located.files.map((file) => resolve(file)), tiedOutputHead };
  } finally {
    for (const reader of readers) await reader.close();
  }
}

/** Maps each tensor name to the one file that contains it, checking the index against the shards. */
function mapTensorOwners(
  readers: readonly SafetensorsReader[],
  weightMap: Map<string, string> | undefined,
  indexPath: string | undefined,
): Map<string, SafetensorsReader> {
  const owners = new Map<string, SafetensorsReader>();
  for (const reader of readers) {
    for (const name of reader.names()) {
      const previous = owners.get(name);
      if (previous !== undefined) {
        throw new CorruptFileError(`tensor ${name} is stored in both ${previous.path} and ${reader.path}`, {
          file: reader.path,
          field: `tensor ${name}`,
        });
      }
      owners.set(name, reader);
    }
  }

  for (const [name, reader] of owners) {
    const listed = weightMap?.get(name);
    if (weightMap !== undefined && listed !== basename(reader.path)) {
      const where = listed === undefined ? "does not list it" : `lists it in ${listed}`;
      throw new CorruptFileError(`tensor ${name} is stored in ${basename(reader.path)} but ${shardIndexName} ${where}`, {
        file: indexPath,
        field: `weight_map.${name}`,
      });
    }
  }

  for (const [name, shard] of weightMap ?? []) {
    if (!owners.has(name)) {
      throw new CorruptFileError(`${shardIndexName} lists tensor ${name} in ${shard}, but that shard does not contain it`, {
        file: indexPath,
        field: `weight_map.${name}`,
      });
    }
  }
  return owners;
}

/**
 * Rejects a num_hidden_layers above the number of layers the files store. This runs before the
 * expected tensors are listed, 9 per layer, so that a wrong or damaged count (millions of layers) fails
 * at once instead of exhausting memory.
 */
function checkLayerCount(config: ModelConfig, owners: Map<string, SafetensorsReader>, dir: string): void {
  const storedLayers = new Set<number>();
  for (const name of owners.keys()) {
    const match = layerTensorPattern.exec(name);
    if (match !== null) storedLayers.add(Number(match[1]));
  }
  if (config.numLayers <= storedLayers.size) return;

  const layers = storedLayers.size === 1 ? "1 layer" : `${storedLayers.size} layers`;
  throw new InvalidConfigError(
    `num_hidden_layers is ${config.numLayers}, but the safetensors files contain weights for only ${layers}; ` +
      `use the config.json that belongs to these weights, or download the missing shards`,
    { file: join(dir, "config.json"), field: "num_hidden_layers" },
  );
}

/** Returns every tensor the config implies, with its canonical name and [out, in] shape. */
function expectedTensors(config: ModelConfig, withOutputHead: boolean): ExpectedTensor[] {
  const hidden = config.hiddenSize;
  const queryWidth = config.numHeads * config.headDim;
  const keyWidth = config.numKvHeads * config.headDim;
  const ffn = config.intermediateSize;
  const tensors: Array<Omit<ExpectedTensor, "source">> = [
    { name: embeddingName, canonical: weightNames.tokenEmbedding, shape: [config.vocabSize, hidden] },
  ];

  for (let layer = 0; layer < config.numLayers; layer++) {
    const prefix = `model.layers.${layer}`;
    tensors.push(
      { name: `${prefix}.input_layernorm.weight`, canonical: weightNames.attentionNorm(layer), shape: [hidden] },
      { name: `${prefix}.self_attn.q_proj.weight`, canonical: weightNames.queryProjection(layer), shape: [queryWidth, hidden] },
      { name: `${prefix}.self_attn.k_proj.weight`, canonical: weightNames.keyProjection(layer), shape: [keyWidth, hidden] },
      { name: `${prefix}.self_attn.v_proj.weight`, canonical: weightNames.valueProjection(layer), shape: [keyWidth, hidden] },
      { name: `${prefix}.self_attn.o_proj.weight`, canonical: weightNames.outputProjection(layer), shape: [hidden, queryWidth] },
      { name: `${prefix}.post_attention_layernorm.weight`, canonical: weightNames.ffnNorm(layer), shape: [hidden] },
      { name: `${prefix}.mlp.gate_proj.weight`, canonical: weightNames.gateProjection(layer), shape: [ffn, hidden] },
      { name: `${prefix}.mlp.up_proj.weight`, canonical: weightNames.upProjection(layer), shape: [ffn, hidden] },
      { name: `${prefix}.mlp.down_proj.weight`, canonical: weightNames.downProjection(layer), shape: [hidden, ffn] },
    );
  }

  tensors.push({ name: "model.norm.weight", canonical: weightNames.finalNorm, shape: [hidden] });
  if (withOutputHead) {
    tensors.push({ name: outputHeadName, canonical: weightNames.outputHead, shape: [config.vocabSize, hidden] });
  }
  return tensors.map((tensor) => ({ ...tensor, source: tensor.name }));
}

/**
 * Points each expected tensor that is not stored under its own name at the tensor that contains its
 * values. safetensors' save_model drops one of two shared tensors and records the pair in
 * __metadata__ as {dropped: kept}. With tied embeddings, either of the pair may be the one stored.
 */
function resolveSources(
  expected: ExpectedTensor[],
  owners: Map<string, SafetensorsReader>,
  readers: readonly SafetensorsReader[],
  tiedOutputHead: boolean,
): void {
  const aliases = new Map<string, string>();
  for (const reader of readers) {
    for (const [dropped, kept] of Object.entries(reader.header.metadata)) {
      if (!owners.has(dropped) && owners.has(kept)) aliases.set(dropped, kept);
    }
  }
  if (tiedOutputHead && !owners.has(embeddingName) && owners.has(outputHeadName)) aliases.set(embeddingName, outputHeadName);

  for (const tensor of expected) {
    if (!owners.has(tensor.name)) tensor.source = aliases.get(tensor.name) ?? tensor.name;
  }
}

/** Requires every expected tensor and rejects unknown ones, which would mean a different architecture. */
function checkNames(owners: Map<string, SafetensorsReader>, expected: readonly ExpectedTensor[], files: readonly string[]): void {
  const used = new Set(expected.map((tensor) => tensor.source));
  for (const tensor of expected) {
    if (!owners.has(tensor.source)) {
      throw new CorruptFileError(`tensor ${tensor.name} is missing; the config needs it`, {
        file: files.join(", "),
        field: `tensor ${tensor.name}`,
      });
    }
  }

  for (const [name, reader] of owners) {
    // A tied config makes a stored lm_head.weight redundant: transformers uses the embedding instead.
    if (used.has(name) || ignoredTensorPattern.test(name) || name === outputHeadName) continue;
    throw new UnsupportedArchitectureError(
      `unexpected tensor ${name}; the checkpoint is not a plain LLaMA model (biases or extra layers are not supported)`,
      { file: reader.path, field: `tensor ${name}` },
    );
  }
}

function checkShapeAndDtype(tensor: ExpectedTensor, reader: SafetensorsReader): void {
  const info = reader.info(tensor.source);
  if (info === undefined) return;
  const field = `tensor ${tensor.source}`;
  if (info.shape.length !== tensor.shape.length || info.shape.some((dim, index) => dim !== tensor.shape[index])) {
    throw new CorruptFileError(
      `shape [${info.shape.join(", ")}] does not match the config, which implies [${tensor.shape.join(", ")}]`,
      { file: reader.path, field },
    );
  }
  if (!isSupportedSafetensorsDtype(info.dtype)) {
    throw new UnsupportedTensorTypeError(
      `dtype ${info.dtype} is not supported; convert the checkpoint to ${supportedSafetensorsDtypes.join(", ")}`,
      { file: reader.path, field },
    );
  }
}

function byteLength(tensor: ExpectedTensor, owners: Map<string, SafetensorsReader>): number {
  const info = owners.get(tensor.source)?.info(tensor.source);
  return info === undefined ? 0 : info.dataOffsets[1] - info.dataOffsets[0];
}

async function isFile(path: string): Promise<boolean> {
  const stats = await stat(path).catch(() => undefined);
  return stats?.isFile() === true;
}
