// ModelConfig of a GGUF llama model from its `llama.*` metadata keys and tensor shapes.
import {
  CorruptFileError,
  InvalidConfigError,
  UnsupportedArchitectureError,
  validateModelConfig,
  type ModelConfig,
  type RopeScaling,
} from "@elitekv/core";

import type { GgufHeader } from "./gguf-header.js";
import type { GgufMetadata } from "./gguf-metadata.js";
import { ropeScalingFromFactors } from "./gguf-rope-scaling.js";

export const supportedArchitecture = "llama";

const defaultRopeTheta = 10_000;

export interface GgufConfigInputs {
  header: GgufHeader;
  metadata: GgufMetadata;
  /** Contents of `rope_freqs.weight` when the file has that tensor. */
  ropeFactors?: Float32Array;
  bosTokenId: number | null;
  eosTokenIds: number[];
  /** Number of ids the tokenizer can produce, at most the embedding rows. */
  tokenizerVocabSize: number;
}

/** Returns the value of `general.architecture`, rejecting every architecture but llama. */
export function checkGgufArchitecture(metadata: GgufMetadata): string {
  const architecture = metadata.string("general.architecture");
  if (architecture === undefined) {
    throw new InvalidConfigError("the key is missing, so the model architecture is unknown; convert the model again with a current llama.cpp", {
      file: metadata.path,
      field: "general.architecture",
    });
  }
  if (architecture !== supportedArchitecture) {
    throw new UnsupportedArchitectureError(
      `architecture "${architecture}" is not supported; this loader reads GGUF files of the "llama" architecture`,
      { file: metadata.path, field: "general.architecture" },
    );
  }
  return architecture;
}

export function ggufModelConfig(inputs: GgufConfigInputs): ModelConfig {
  const { header, metadata } = inputs;
  const path = metadata.path;
  const prefix = checkGgufArchitecture(metadata);
  const key = (name: string) => `${prefix}.${name}`;

  const required = (name: string): number => {
    const value = metadata.integer(key(name));
    if (value === undefined) {
      throw new InvalidConfigError("the key is missing; the model cannot be built without it", {
        file: path,
        field: key(name),
      });
    }
    return value;
  };

  const expertCount = metadata.integer(key("expert_count")) ?? 0;
  if (expertCount > 0) {
    throw new UnsupportedArchitectureError(
      `mixture-of-experts llama models (expert_count ${expertCount}) are not supported`,
      { file: path, field: key("expert_count") },
    );
  }

  const hiddenSize = required("embedding_length");
  const numHeads = required("attention.head_count");
  const numKvHeads = metadata.integer(key("attention.head_count_kv")) ?? numHeads;
  const headDim = headDimension(metadata, key, hiddenSize, numHeads);
  const rotaryDim = metadata.integer(key("rope.dimension_count")) ?? headDim;
  const theta = metadata.number(key("rope.freq_base")) ?? defaultRopeTheta;

  const rmsNormEps = metadata.number(key("attention.layer_norm_rms_epsilon"));
  if (rmsNormEps === undefined) {
    throw new InvalidConfigError("the key is missing; llama models need their RMSNorm epsilon", {
      file: path,
      field: key("attention.layer_norm_rms_epsilon"),
    });
  }

  const embedding = header.tensors.find((tensor) => tensor.name === "token_embd.weight");
  if (embedding === undefined || embedding.dims.length !== 2) {
    throw new CorruptFileError("token_embd.weight is missing or not two-dimensional", {
      file: path,
      field: "token_embd.weight",
    });
  }
  const vocabSize = embedding.dims[1];
  const declaredVocab = metadata.integer(key("vocab_size"));
  if (declaredVocab !== undefined && declaredVocab !== vocabSize) {
    throw new CorruptFileError(
      `is ${declaredVocab} but token_embd.weight has ${vocabSize} rows; they must match`,
      { file: path, field: key("vocab_size") },
    );
  }

  if (inputs.tokenizerVocabSize > vocabSize) {
    throw new InvalidConfigError(
      `the tokenizer has ${inputs.tokenizerVocabSize} ids but token_embd.weight has only ${vocabSize} rows; ` +
        "ids past the last row could not be embedded",
      { file: path, field: "tokenizer.ggml.tokens" },
    );
  }

  const scaling = ropeScaling(metadata, key, inputs.ropeFactors, theta, rotaryDim);

  const config: ModelConfig = {
    architecture: "llama",
    hiddenSize,
    intermediateSize: required("feed_forward_length"),
    numLayers: required("block_count"),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize,
    maxPositionEmbeddings: required("context_length"),
    rmsNormEps,
    rope: { theta, scaling, rotaryDim, sourceLayout: "interleaved" },
    tieWordEmbeddings: !header.tensors.some((tensor) => tensor.name === "output.weight"),
    bosTokenId: inputs.bosTokenId,
    eosTokenIds: inputs.eosTokenIds,
  };
  return validateModelConfig(config, path);
}

/** `attention.key_length` when present (it may differ from hidden / heads), else hidden / heads. */
function headDimension(
  metadata: GgufMetadata,
  key: (name: string) => string,
  hiddenSize: number,
  numHeads: number,
): number {
  const keyLength = metadata.integer(key("attention.key_length"));
  const valueLength = metadata.integer(key("attention.value_length"));
  if (keyLength !== undefined && valueLength !== undefined && keyLength !== valueLength) {
    throw new InvalidConfigError(
      `key_length ${keyLength} differs from value_length ${valueLength}; only equal key and value head sizes are supported`,
      { file: metadata.path, field: key("attention.value_length") },
    );
  }
  if (keyLength !== undefined) return keyLength;
  if (numHeads === 0 || hiddenSize % numHeads !== 0) {
    throw new InvalidConfigError(
      `embedding_length ${hiddenSize} is not a multiple of head_count ${numHeads}, and attention.key_length is missing`,
      { file: metadata.path, field: key("attention.head_count") },
    );
  }
  return hiddenSize / numHeads;
}

function ropeScaling(
  metadata: GgufMetadata,
  key: (name: string) => string,
  factors: Float32Array | undefined,
  theta: number,
  rotaryDim: number,
): RopeScaling {
  const path = metadata.path;
  const type = metadata.string(key("rope.scaling.type"));
  let declared: RopeScaling = { type: "none" };

  if (type === "linear") {
    const factor = metadata.number(key("rope.scaling.factor"));
    if (factor === undefined) {
      throw new InvalidConfigError("linear RoPE scaling needs rope.scaling.factor", {
        file: path,
        field: key("rope.scaling.factor"),
      });
    }
    declared = factor === 1 ? { type: "none" } : { type: "linear", factor };
  } else if (type !== undefined && type !== "none") {
    throw new InvalidConfigError(`RoPE scaling type "${type}" is not supported (supported: none, linear, llama3)`, {
      file: path,
      field: key("rope.scaling.type"),
    });
  } else {
    const legacyFactor = metadata.number(key("rope.scale_linear"));
    if (legacyFactor !== undefined && legacyFactor !== 1) declared = { type: "linear", factor: legacyFactor };
  }

  if (factors === undefined) return declared;

  if (declared.type !== "none") {
    throw new InvalidConfigError(
      "the file declares linear RoPE scaling and also has rope_freqs.weight; combining both is not supported",
      { file: path, field: key("rope.scaling.type") },
    );
  }
  const originalContext = metadata.integer(key("rope.scaling.original_context_length"));
  return ropeScalingFromFactors(factors, { theta, rotaryDim }, { file: path, originalContext });
}
