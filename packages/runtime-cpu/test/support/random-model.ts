// Tiny LLaMA models with seeded random weights, built in memory for tests that need no model files.
import { createRandom, MapWeightStore, weightNames, type LoadedModel, type ModelConfig, type Tensor, type Tokenizer } from "@elitekv/core";

export interface TinyModelOptions {
  hiddenSize?: number;
  intermediateSize?: number;
  numLayers?: number;
  numHeads?: number;
  numKvHeads?: number;
  headDim?: number;
  vocabSize?: number;
  maxPositionEmbeddings?: number;
  tieWordEmbeddings?: boolean;
  rope?: ModelConfig["rope"];
  seed?: number;
}

/** Returns a tokenizer stub. The backend never tokenizes, but LoadedModel needs a tokenizer. */
function stubTokenizer(vocabSize: number): Tokenizer {
  return {
    vocabSize,
    bosId: 1,
    eosIds: [2],
    encode: () => [],
    decode: (ids) => ids.join(" "),
    createDecoderStream: () => ({ push: () => "", flush: () => "" }),
  };
}

export function tinyConfig(options: TinyModelOptions = {}): ModelConfig {
  const headDim = options.headDim ?? 8;
  return {
    architecture: "llama",
    hiddenSize: options.hiddenSize ?? 32,
    intermediateSize: options.intermediateSize ?? 48,
    numLayers: options.numLayers ?? 2,
    numHeads: options.numHeads ?? 4,
    numKvHeads: options.numKvHeads ?? 2,
    headDim,
    vocabSize: options.vocabSize ?? 64,
    maxPositionEmbeddings: options.maxPositionEmbeddings ?? 128,
    rmsNormEps: 1e-5,
    rope: options.rope ?? { theta: 10000, scaling: { type: "none" }, rotaryDim: headDim, sourceLayout: "half" },
    tieWordEmbeddings: options.tieWordEmbeddings ?? true,
    bosTokenId: 1,
    eosTokenIds: [2],
  };
}

/** Builds a model with seeded uniform random weights, and norm weights near 1. */
export function tinyModel(options: TinyModelOptions = {}): LoadedModel {
  const config = tinyConfig(options);
  const random = createRandom(options.seed ?? 1234);
  const tensors = new Map<string, Tensor>();
  const add = (name: string, shape: number[], scale: number, center = 0) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = center + (random.next() * 2 - 1) * scale;
    tensors.set(name, { shape, data });
  };

  const { hiddenSize: d, intermediateSize: f, numHeads, numKvHeads, headDim, vocabSize } = config;
  add(weightNames.tokenEmbedding, [vocabSize, d], 1);
  add(weightNames.finalNorm, [d], 0.2, 1);
  if (!config.tieWordEmbeddings) add(weightNames.outputHead, [vocabSize, d], 0.3);
  for (let layer = 0; layer < config.numLayers; layer++) {
    add(weightNames.attentionNorm(layer), [d], 0.2, 1);
    add(weightNames.queryProjection(layer), [numHeads * headDim, d], 0.5);
    add(weightNames.keyProjection(layer), [numKvHeads * headDim, d], 0.5);
    add(weightNames.valueProjection(layer), [numKvHeads * headDim, d], 0.3);
    add(weightNames.outputProjection(layer), [d, numHeads * headDim], 0.3);
    add(weightNames.ffnNorm(layer), [d], 0.2, 1);
    add(weightNames.gateProjection(layer), [f, d], 0.3);
    add(weightNames.upProjection(layer), [f, d], 0.3);
    add(weightNames.downProjection(layer), [d, f], 0.3);
  }

  return {
    config,
    weights: new MapWeightStore(tensors, "tiny random model"),
    tokenizer: stubTokenizer(vocabSize),
    source: { format: "llama2c", path: "memory:tiny-random", files: [], details: {} },
  };
}
