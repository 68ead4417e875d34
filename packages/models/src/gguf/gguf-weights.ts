// Maps GGUF llama tensor names to the canonical weight names, checks every shape against the config,
// and reads, dequantizes and (for q and k) un-permutes the tensors into a MapWeightStore.
import { open, type FileHandle } from "node:fs/promises";

import {
  CorruptFileError,
  MapWeightStore,
  permuteInterleavedRows,
  silentProgress,
  UnsupportedArchitectureError,
  weightNames,
  type ModelConfig,
  type ProgressListener,
} from "@elitekv/core";

import { dequantizeGgml } from "./dequantize.js";
import type { GgufHeader, GgufTensorInfo } from "./gguf-header.js";
import { ropeFrequencyTensorName } from "./gguf-rope-scaling.js";

type RowPermutation = "query" | "key";

interface WeightPlan {
  tensor: GgufTensorInfo;
  canonicalName: string;
  /** Shape outermost first, as the config requires it. */
  shape: number[];
  permutation?: RowPermutation;
}

const layerTensorPattern = /^blk\.(\d+)\.([a-z_]+)\.weight$/;

/** Tensors llama.cpp writes that carry no weights this runtime uses. */
const ignoredTensorPattern = /^blk\.\d+\.attn_rot_embd$/;

/**
 * Returns the read plan for every tensor of `header`. Throws UnsupportedArchitectureError for tensors
 * outside the llama layout (biases, experts, ...) and CorruptFileError for missing weights or shapes
 * that contradict the config.
 */
export function planGgufWeights(header: GgufHeader, config: ModelConfig): WeightPlan[] {
  const path = header.path;
  const hidden = config.hiddenSize;
  const queryRows = config.numHeads * config.headDim;
  const kvRows = config.numKvHeads * config.headDim;
  const globalTensors: Record<string, { canonicalName: string; shape: number[] }> = {
    "token_embd.weight": { canonicalName: weightNames.tokenEmbedding, shape: [config.vocabSize, hidden] },
    "output_norm.weight": { canonicalName: weightNames.finalNorm, shape: [hidden] },
    "output.weight": { canonicalName: weightNames.outputHead, shape: [config.vocabSize, hidden] },
  };
  const layerTensors: Record<string, { name: (layer: number) => string; shape: number[]; permutation?: RowPermutation }> = {
    attn_norm: { name: weightNames.attentionNorm, shape: [hidden] },
    attn_q: { name: weightNames.queryProjection, shape: [queryRows, hidden], permutation: "query" },
    attn_k: { name: weightNames.keyProjection, shape: [kvRows, hidden], permutation: "key" },
    attn_v: { name: weightNames.valueProjection, shape: [kvRows, hidden] },
    attn_output: { name: weightNames.outputProjection, shape: [hidden, queryRows] },
    ffn_norm: { name: weightNames.ffnNorm, shape: [hidden] },
    ffn_gate: { name: weightNames.gateProjection, shape: [config.intermediateSize, hidden] },
    ffn_down: { name: weightNames.downProjection, shape: [hidden, config.intermediateSize] },
    ffn_up: { name: weightNames.upProjection, shape: [config.intermediateSize, hidden] },
  };

  const plans: WeightPlan[] = [];
  for (const tensor of header.tensors) {
    if (tensor.name === ropeFrequencyTensorName || ignoredTensorPattern.test(tensor.name)) continue;

    const global = globalTensors[tensor.name];
    if (global !== undefined) {
      plans.push({ tensor, canonicalName: global.canonicalName, shape: global.shape });
      continue;
    }

    const match = layerTensorPattern.exec(tensor.name);
    const layerTensor = match === null ? undefined : layerTensors[match[2]];
    if (match === null || layerTensor === undefined) {
      throw new UnsupportedArchitectureError(
        `tensor ${tensor.name} is not part of the llama layout this loader supports ` +
          "(no biases, experts or extra projections)",
        { file: path, field: tensor.name },
      );
    }
    const layer = Number(match[1]);
    if (layer >= config.numLayers) {
      throw new CorruptFileError(`belongs to layer ${layer} but block_count is ${config.numLayers}`, {
        file: path,
        field: tensor.name,
      });
    }
    plans.push({
      tensor,
      canonicalName: layerTensor.name(layer),
      shape: layerTensor.shape,
      permutation: layerTensor.permutation,
    });
  }

  checkShapes(plans, path);
  checkLayerCount(plans, config, path);
  checkComplete(plans, config, path);
  return plans;
}

/**
 * Rejects a block_count above the number of layers the file has tensors for. This runs before
 * checkComplete lists block_count × 9 tensor names, so that a damaged count (one flipped byte can make
 * it millions) fails at once instead of exhausting memory.
 */
function checkLayerCount(plans: readonly WeightPlan[], config: ModelConfig, path: string): void {
  const storedLayers = new Set<number>();
  for (const plan of plans) {
    const match = layerTensorPattern.exec(plan.tensor.name);
    if (match !== null) storedLayers.add(Number(match[1]));
  }
  if (config.numLayers <= storedLayers.size) return;

  const layers = storedLayers.size === 1 ? "1 layer" : `${storedLayers.size} layers`;
  throw new CorruptFileError(
    `is ${config.numLayers}, but the file has tensors for only ${layers}; ` +
      "the metadata is corrupt or the file is incomplete, download or convert it again",
    { file: path, field: "llama.block_count" },
  );
}

function checkShapes(plans: readonly WeightPlan[], path: string): void {
  for (const plan of plans) {
    const actual = [...plan.tensor.dims].reverse();
    const matches = actual.length === plan.shape.length && actual.every((dim, axis) => dim === plan.shape[axis]);
    if (!matches) {
      throw new CorruptFileError(
        `has shape [${actual.join(", ")}] (outermost first) but the metadata implies [${plan.shape.join(", ")}]`,
        { file: path, field: plan.tensor.name },
      );
    }
  }
}

function checkComplete(plans: readonly WeightPlan[], config: ModelConfig, path: string): void {
  const present = new Set(plans.map((plan) => plan.canonicalName));
  const ggufNames: Array<[string, string]> = [
    [weightNames.tokenEmbedding, "token_embd.weight"],
    [weightNames.finalNorm, "output_norm.weight"],
  ];
  const layerParts: Array<[(layer: number) => string, string]> = [
    [weightNames.attentionNorm, "attn_norm"],
    [weightNames.queryProjection, "attn_q"],
    [weightNames.keyProjection, "attn_k"],
    [weightNames.valueProjection, "attn_v"],
    [weightNames.outputProjection, "attn_output"],
    [weightNames.ffnNorm, "ffn_norm"],
    [weightNames.gateProjection, "ffn_gate"],
    [weightNames.downProjection, "ffn_down"],
    [weightNames.upProjection, "ffn_up"],
  ];
  for (let layer = 0; layer < config.numLayers; layer++) {
    for (const [name, part] of layerParts) ggufNames.push([name(layer), `blk.${layer}.${part}.weight`]);
  }
  for (const [canonicalName, ggufName] of ggufNames) {
    if (!present.has(canonicalName)) {
      throw new CorruptFileError(`tensor ${ggufName} is missing`, { file: path, field: ggufName });
    }
  }
}

/** Reads and widens one tensor's data from `handle`, the open GGUF file. */
export async function readGgufTensor(handle: FileHandle, header: GgufHeader, tensor: GgufTensorInfo): Promise<Float32Array> {
  const bytes = new Uint8Array(tensor.byteSize);
  const position = header.dataOffset + tensor.offset;
  const { bytesRead } = await handle.read(bytes, 0, tensor.byteSize, position);
  if (bytesRead !== tensor.byteSize) {
    throw new CorruptFileError(
      `read ${bytesRead} of ${tensor.byteSize} bytes at byte ${position}; the file changed while loading or is truncated`,
      { file: header.path, field: tensor.name },
    );
  }
  return dequantizeGgml(bytes, tensor.type, tensor.elementCount, { file: header.path, tensor: tensor.name });
}

/** Reads every planned tensor into a MapWeightStore, with q and k rows converted to the half layout. */
export async function readGgufWeights(
  header: GgufHeader,
  config: ModelConfig,
  plans: readonly WeightPlan[],
  onProgress: ProgressListener = silentProgress,
): Promise<MapWeightStore> {
  const task = "load-gguf";
  const started = performance.now();
  const store = new MapWeightStore(new Map(), header.path);
  onProgress({ type: "start", task, total: plans.length, unit: "tensors", message: header.path });

  const handle = await open(header.path, "r");
  try {
    for (let index = 0; index < plans.length; index++) {
      const plan = plans[index];
      let data = await readGgufTensor(handle, header, plan.tensor);
      if (plan.permutation !== undefined) {
        const heads = plan.permutation === "query" ? config.numHeads : config.numKvHeads;
        data = permuteInterleavedRows(data, heads, config.headDim, config.hiddenSize);
      }
      store.set(plan.canonicalName, { shape: plan.shape, data });
      onProgress({ type: "advance", task, current: index + 1, total: plans.length, unit: "tensors", message: plan.tensor.name });
    }
  } finally {
    await handle.close();
  }

  onProgress({ type: "end", task, seconds: (performance.now() - started) / 1000 });
  return store;
}
