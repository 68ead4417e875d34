// A tiny LLaMA model with seeded random weights, built in memory, so that the tests of the check
// functions run without the shared models.
import { createRandom, MapWeightStore, weightNames, type LoadedModel, type ModelConfig, type Tensor, type Tokenizer } from "@elitekv/core";

const headDim = 8;

const config: ModelConfig = {
  architecture: "llama",
  hiddenSize: 32,
  intermediateSize: 48,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim,
  vocabSize: 64,
  maxPositionEmbeddings: 128,
  rmsNormEps: 1e-5,
  rope: { theta: 10000, scaling: { type: "none" }, rotaryDim: headDim, sourceLayout: "half" },
  tieWordEmbeddings: true,
  bosTokenId: 1,
  eosTokenIds: [2],
};

/** A tokenizer stub: the checks receive ids directly, but LoadedModel needs a tokenizer. */
const tokenizer: Tokenizer = {
  vocabSize: config.vocabSize,
  bosId: 1,
  eosIds: [2],
  encode: () => [],
  decode: (ids) => ids.join(" "),
  createDecoderStream: () => ({ push: () => "", flush: () => "" }),
};

/** Builds the model with uniform random weights from `seed`, and norm weights near 1. */
export function tinyModel(seed = 1234): LoadedModel {
  const random = createRandom(seed);
  const tensors = new Map<string, Tensor>();
  const add = (name: string, shape: number[], scale: number, center = 0) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = center + (random.next() * 2 - 1) * scale;
    tensors.set(name, { shape, data });
  };

  const { hiddenSize: d, intermediateSize: f, numHeads, numKvHeads, vocabSize } = config;
  add(weightNames.tokenEmbedding, [vocabSize, d], 1);
  add(weightNames.finalNorm, [d], 0.2, 1);
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
    tokenizer,
    source: { format: "llama2c", path: "memory:tiny-random", files: [], details: {} },
  };
}

/** Returns `count` ids in 3 .. vocabSize − 1 from a linear congruential sequence. */
export function tinyPromptIds(count: number, seed = 7): number[] {
  const ids: number[] = [];
  let state = seed;
  for (let i = 0; i < count; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    ids.push(3 + (state % (config.vocabSize - 3)));
  }
  return ids;
}
