// Copies a model's weights into one SharedArrayBuffer, so that every compute worker reads the same
// memory. The q/k/v projections of a layer are stored as one fused [(H + 2G)·h, hidden] matrix and
// the SwiGLU gate and up projections as one [2·F, hidden] matrix, so that each runs as one parallel job.
// A converted (EliteKV) layer fuses wq, wk_rope and w_dkv instead, and adds its two up projections.
import {
  BackendFailureError,
  eliteWeightNames,
  InvalidConfigError,
  weightNames,
  type LoadedModel,
  type Tensor,
} from "@elitekv/core";

import { maxElementIndex } from "./pool-protocol.js";

/** Element offsets of one layer's weights in the arena. */
export interface LayerWeightOffsets {
  attentionNorm: number;
  /**
   * [(numHeads + 2 * numKvHeads) * headDim, hiddenSize]: query rows, then key rows, then value rows.
   * In a converted layer [numHeads * headDim + numKvHeads * 2r + latentDim, hiddenSize]: wq, wk_rope,
   * then w_dkv rows.
   */
  queryKeyValue: number;
  /** Converted layers only: w_uk [numKvHeads * (headDim - 2r), latentDim]. */
  keyUp?: number;
  /** Converted layers only: w_uv [numKvHeads * headDim, latentDim]. */
  valueUp?: number;
  /** [hiddenSize, numHeads * headDim]. */
  output: number;
  ffnNorm: number;
  /** [2 * intermediateSize, hiddenSize]: gate (w1) rows, then up (w3) rows. */
  gateUp: number;
  /** [hiddenSize, intermediateSize]. */
  down: number;
}

export interface WeightArena {
  buffer: SharedArrayBuffer;
  data: Float32Array;
  /** [vocabSize, hiddenSize]. */
  tokenEmbedding: number;
  finalNorm: number;
  /** [vocabSize, hiddenSize], at the tokenEmbedding offset when the head is tied to the embedding. */
  outputHead: number;
  layers: LayerWeightOffsets[];
}

/** Offsets start on 64-byte boundaries, the cache-line size of x86-64 cores. */
const alignmentElements = 16;

interface Placement {
  offset: number;
  tensors: Tensor[];
}

/**
 * Validates every weight the forward pass reads against the model config and copies it into a new
 * arena. Throws InvalidConfigError naming the weight when one is missing or has the wrong shape.
 * NOTE: the arena is a second copy. The LoadedModel's tensors stay in memory as long as the caller
 * keeps the model, so weights take twice their float32 size (about 1.1 GB for SmolLM2-135M).
 */
export function buildWeightArena(model: LoadedModel): WeightArena {
  const { config } = model;
  const source = model.source?.path;
  const hidden = config.hiddenSize;
  const queryRows = config.numHeads * config.headDim;
  const keyRows = config.numKvHeads * config.headDim;
  const ffn = config.intermediateSize;

  const fetch = (name: string, shape: readonly number[]): Tensor => {
    if (!model.weights.has(name)) {
      throw new InvalidConfigError(`weight ${name} is missing; the model files are incomplete or were loaded as the wrong architecture`, {
        file: source,
        field: name,
      });
    }
    const tensor = model.weights.get(name);
    const expected = shape.reduce((product, dim) => product * dim, 1);
    const sameShape = tensor.shape.length === shape.length && tensor.shape.every((dim, axis) => dim === shape[axis]);
    if (!sameShape || tensor.data.length !== expected) {
      throw new InvalidConfigError(
        `weight ${name} has shape [${tensor.shape.join(", ")}] and ${tensor.data.length} values, but the config needs [${shape.join(", ")}]`,
        { file: source, field: name },
      );
    }
    return tensor;
  };

  let cursor = 0;
  const placements: Placement[] = [];
  const place = (...tensors: Tensor[]): number => {
    const offset = cursor;
    placements.push({ offset, tensors });
    const length = tensors.reduce((sum, tensor) => sum + tensor.data.length, 0);
    cursor = Math.ceil((cursor + length) / alignmentElements) * alignmentElements;
    return offset;
  };

  const tokenEmbedding = place(fetch(weightNames.tokenEmbedding, [config.vocabSize, hidden]));
  const finalNorm = place(fetch(weightNames.finalNorm, [hidden]));
  let outputHead: number;
  if (model.weights.has(weightNames.outputHead)) {
    outputHead = place(fetch(weightNames.outputHead, [config.vocabSize, hidden]));
  } else if (config.tieWordEmbeddings) {
    outputHead = tokenEmbedding;
  } else {
    throw new InvalidConfigError(
      `weight ${weightNames.outputHead} is missing and tieWordEmbeddings is false; the model needs an output head`,
      { file: source, field: weightNames.outputHead },
    );
  }

  const layers: LayerWeightOffsets[] = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    const attentionNorm = place(fetch(weightNames.attentionNorm(layer), [hidden]));
    let attention: Pick<LayerWeightOffsets, "queryKeyValue" | "keyUp" | "valueUp">;
    if (model.elite === undefined) {
      attention = {
        queryKeyValue: place(
          fetch(weightNames.queryProjection(layer), [queryRows, hidden]),
          fetch(weightNames.keyProjection(layer), [keyRows, hidden]),
          fetch(weightNames.valueProjection(layer), [keyRows, hidden]),
        ),
      };
    } else {
      const r = model.elite.ropeChunksPerHead;
      const latentDim = model.elite.layers[layer].latentDim;
      const kvHeads = config.numKvHeads;
      attention = {
        queryKeyValue: place(
          fetch(weightNames.queryProjection(layer), [queryRows, hidden]),
          fetch(eliteWeightNames.ropeKeyProjection(layer), [kvHeads * 2 * r, hidden]),
          fetch(eliteWeightNames.latentDownProjection(layer), [latentDim, hidden]),
        ),
        keyUp: place(fetch(eliteWeightNames.keyUpProjection(layer), [kvHeads * (config.headDim - 2 * r), latentDim])),
        valueUp: place(fetch(eliteWeightNames.valueUpProjection(layer), [keyRows, latentDim])),
      };
    }
    layers.push({
      attentionNorm,
      ...attention,
      output: place(fetch(weightNames.outputProjection(layer), [hidden, queryRows])),
      ffnNorm: place(fetch(weightNames.ffnNorm(layer), [hidden])),
      gateUp: place(
        fetch(weightNames.gateProjection(layer), [ffn, hidden]),
        fetch(weightNames.upProjection(layer), [ffn, hidden]),
      ),
      down: place(fetch(weightNames.downProjection(layer), [hidden, ffn])),
    });
  }

  if (cursor > maxElementIndex) {
    throw new BackendFailureError(
      `the weights need ${cursor} float32 values, but the CPU backend addresses at most ${maxElementIndex} (8 GiB); use a smaller model`,
      { file: source },
    );
  }

  const byteLength = cursor * Float32Array.BYTES_PER_ELEMENT;
  let buffer: SharedArrayBuffer;
  try {
    buffer = new SharedArrayBuffer(byteLength);
  } catch (error) {
    throw new BackendFailureError(
      `could not allocate ${byteLength} bytes of shared memory for the weights; free memory or use a smaller model`,
      { file: source, cause: error },
    );
  }

  const data = new Float32Array(buffer);
  for (const placement of placements) {
    let offset = placement.offset;
    for (const tensor of placement.tensors) {
      data.set(tensor.data, offset);
      offset += tensor.data.length;
    }
  }
  return { buffer, data, tokenEmbedding, finalNorm, outputHead, layers };
}
