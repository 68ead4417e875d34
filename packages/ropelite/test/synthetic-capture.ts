// Test helpers: a small model config and seeded synthetic queries and keys, for tests that need no
// shared model.
import { createRandom, type ModelConfig } from "@elitekv/core";

export function syntheticConfig(numHeads: number, numKvHeads: number, headDim: number, numLayers = 1): ModelConfig {
  return {
    architecture: "llama",
    hiddenSize: numHeads * headDim,
    intermediateSize: 4 * numHeads * headDim,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: 32,
    maxPositionEmbeddings: 256,
    rmsNormEps: 1e-5,
    rope: { theta: 10000, scaling: { type: "none" }, rotaryDim: headDim, sourceLayout: "half" },
    tieWordEmbeddings: false,
    bosTokenId: null,
    eosTokenIds: [],
  };
}

/** Fills an array with uniform values in [-1, 1) from a seeded stream. */
export function randomArray(length: number, seed: number): Float32Array {
  const random = createRandom(seed);
  return Float32Array.from({ length }, () => 2 * random.next() - 1);
}
