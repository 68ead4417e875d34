// Architecture description of a LLaMA-family decoder, independent of the file it was loaded from.
import { InvalidConfigError } from "../errors/error-classes.js";

/** RoPE frequency scaling declared by the model. */
export type RopeScaling =
  | { type: "none" }
  | { type: "linear"; factor: number }
  | {
      type: "llama3";
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    };

/**
 * Pairing of head dims into RoPE chunks. "half" pairs (j, j + h/2) (Hugging Face "rotate half");
 * "interleaved" pairs (2j, 2j + 1) (llama2.c and llama.cpp GGUF files). Every weight store hands out
 * q and k rows in the "half" layout; `sourceLayout` records what the file used.
 */
export type RopeLayout = "half" | "interleaved";

export interface RopeConfig {
  /** Base of the frequencies theta_j = base^(-2j/h). */
  theta: number;
  scaling: RopeScaling;
  /** Dims of each head that rotate; equal to headDim for every supported model. */
  rotaryDim: number;
  /** Layout of q and k rows in the source file; loaders convert it to "half". */
  sourceLayout: RopeLayout;
}

export interface ModelConfig {
  architecture: "llama";
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  /** Key/value heads; smaller than numHeads under grouped-query attention. */
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  /** Maximum context length, in tokens, the model was trained for. */
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  rope: RopeConfig;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

/** Returns the number of RoPE chunks per head (h / 2). */
export function ropeChunkCount(config: ModelConfig): number {
  return config.headDim / 2;
}

/** Returns query heads per key/value head. */
export function queryGroupSize(config: ModelConfig): number {
  return config.numHeads / config.numKvHeads;
}

/**
 * Checks the invariants every backend relies on and throws InvalidConfigError naming the field.
 * `source` names the file or folder the config came from.
 */
export function validateModelConfig(config: ModelConfig, source?: string): ModelConfig {
  const details = (field: string) => ({ file: source, field });
  const positiveIntegers: Array<keyof ModelConfig> = [
    "hiddenSize",
    "intermediateSize",
    "numLayers",
    "numHeads",
    "numKvHeads",
    "headDim",
    "vocabSize",
    "maxPositionEmbeddings",
  ];
  for (const field of positiveIntegers) {
    const value = config[field];
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
      throw new InvalidConfigError(`${String(field)} must be a positive integer, got ${String(value)}`, details(field));
    }
  }
  if (config.numHeads % config.numKvHeads !== 0) {
    throw new InvalidConfigError(
      `numHeads (${config.numHeads}) must be a multiple of numKvHeads (${config.numKvHeads})`,
      details("numKvHeads"),
    );
  }
  if (config.headDim % 2 !== 0) {
    throw new InvalidConfigError(`headDim must be even for RoPE, got ${config.headDim}`, details("headDim"));
  }
  if (config.rope.rotaryDim !== config.headDim) {
    throw new InvalidConfigError(
      `partial rotary embeddings are not supported: rotaryDim ${config.rope.rotaryDim} differs from headDim ${config.headDim}`,
      details("rope.rotaryDim"),
    );
  }
  if (!(config.rope.theta > 0) || !Number.isFinite(config.rope.theta)) {
    throw new InvalidConfigError(`rope theta must be a positive number, got ${config.rope.theta}`, details("rope.theta"));
  }
  if (!(config.rmsNormEps > 0)) {
    throw new InvalidConfigError(`rmsNormEps must be positive, got ${config.rmsNormEps}`, details("rmsNormEps"));
  }
  const scaling = config.rope.scaling;
  if (scaling.type !== "none" && !(scaling.factor > 0)) {
    throw new InvalidConfigError(`rope scaling factor must be positive, got ${scaling.factor}`, details("rope.scaling.factor"));
  }
  if (scaling.type === "llama3" && !(scaling.highFreqFactor > scaling.lowFreqFactor)) {
    throw new InvalidConfigError(
      `llama3 rope scaling needs highFreqFactor > lowFreqFactor, got ${scaling.highFreqFactor} and ${scaling.lowFreqFactor}`,
      details("rope.scaling"),
    );
  }
  return config;
}
