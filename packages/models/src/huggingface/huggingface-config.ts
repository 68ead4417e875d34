// config.json of a Hugging Face LLaMA-family model, turned into the core ModelConfig. Defaults follow
// transformers' LlamaConfig; every field is type-checked and errors name config.json and the key.
import {
  InvalidConfigError,
  UnsupportedArchitectureError,
  validateModelConfig,
  type ModelConfig,
  type RopeScaling,
} from "@elitekv/core";

/** Architectures whose weights and forward pass match the LLaMA decoder exactly. */
export const supportedHuggingFaceArchitectures = ["LlamaForCausalLM", "MistralForCausalLM"] as const;

const supportedModelTypes = ["llama", "mistral"];

export interface HuggingFaceConfig {
  config: ModelConfig;
  architecture: string;
  /** Mistral's sliding attention window in tokens, when the config sets one. */
  slidingWindow: number | null;
  /** The checkpoint's stored dtype as declared (informational), e.g. "float32". */
  torchDtype: string | null;
}

type Json = Record<string, unknown>;

/** Parses a config.json object. `file` names the file in errors. */
export function parseHuggingFaceConfig(json: unknown, file: string): HuggingFaceConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new InvalidConfigError("config.json must be a JSON object", { file });
  }
  const raw = json as Json;
  const architecture = checkArchitecture(raw, file);
  checkUnsupportedFeatures(raw, file);

  const hiddenSize = positiveInteger(raw, "hidden_size", file);
  const numHeads = positiveInteger(raw, "num_attention_heads", file);
  const numKvHeads = optionalPositiveInteger(raw, "num_key_value_heads", file) ?? numHeads;
  const explicitHeadDim = optionalPositiveInteger(raw, "head_dim", file);
  if (explicitHeadDim === undefined && hiddenSize % numHeads !== 0) {
    throw new InvalidConfigError(
      `hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numHeads}; set head_dim explicitly`,
      { file, field: "head_dim" },
    );
  }
  // An explicit head_dim may differ from hidden_size / heads (Mistral-Nemo: 5120 / 32 heads, head_dim 128).
  const headDim = explicitHeadDim ?? hiddenSize / numHeads;

  const config: ModelConfig = {
    architecture: "llama",
    hiddenSize,
    intermediateSize: positiveInteger(raw, "intermediate_size", file),
    numLayers: positiveInteger(raw, "num_hidden_layers", file),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: positiveInteger(raw, "vocab_size", file),
    maxPositionEmbeddings: optionalPositiveInteger(raw, "max_position_embeddings", file) ?? 2048,
    rmsNormEps: optionalPositiveNumber(raw, "rms_norm_eps", file) ?? 1e-6,
    rope: {
      theta: optionalPositiveNumber(raw, "rope_theta", file) ?? 10000,
      scaling: parseRopeScaling(raw.rope_scaling, file),
      rotaryDim: headDim,
      // Hugging Face checkpoints store q and k rows for rotate-half RoPE already.
      sourceLayout: "half",
    },
    tieWordEmbeddings: optionalBoolean(raw, "tie_word_embeddings", file) ?? false,
    bosTokenId: optionalTokenId(raw, "bos_token_id", file) ?? null,
    eosTokenIds: parseEosTokenIds(raw.eos_token_id, file),
  };

  const slidingWindow = raw.sliding_window;
  return {
    config: validateModelConfig(config, file),
    architecture,
    slidingWindow: typeof slidingWindow === "number" ? slidingWindow : null,
    torchDtype: typeof raw.torch_dtype === "string" ? raw.torch_dtype : null,
  };
}

function checkArchitecture(raw: Json, file: string): string {
  const architectures = raw.architectures;
  if (architectures === undefined || architectures === null) {
    const modelType = raw.model_type;
    if (typeof modelType === "string" && supportedModelTypes.includes(modelType)) return `${modelType} (model_type)`;
    throw new UnsupportedArchitectureError(
      `config.json has no architectures list and model_type ${JSON.stringify(modelType)} is not llama or mistral`,
      { file, field: "architectures" },
    );
  }
  if (!Array.isArray(architectures) || architectures.length === 0 || !architectures.every((a) => typeof a === "string")) {
    throw new InvalidConfigError(`architectures must be a non-empty list of strings, got ${JSON.stringify(architectures)}`, {
      file,
      field: "architectures",
    });
  }
  const supported = architectures.find((name) =>
    (supportedHuggingFaceArchitectures as readonly string[]).includes(name),
  );
  if (supported === undefined) {
    throw new UnsupportedArchitectureError(
      `architecture ${architectures.join(", ")} is not supported; supported: ${supportedHuggingFaceArchitectures.join(", ")}`,
      { file, field: "architectures" },
    );
  }
  return supported;
}

/** Rejects LLaMA variants whose forward pass differs from the one every backend implements. */
function checkUnsupportedFeatures(raw: Json, file: string): void {
  const activation = raw.hidden_act ?? "silu";
  if (activation !== "silu") {
    throw new UnsupportedArchitectureError(`hidden_act ${JSON.stringify(activation)} is not supported; only silu (SwiGLU)`, {
      file,
      field: "hidden_act",
    });
  }
  for (const key of ["attention_bias", "mlp_bias"]) {
    if (raw[key] === true) {
      throw new UnsupportedArchitectureError(`${key} is true, but biases in attention and MLP layers are not supported`, {
        file,
        field: key,
      });
    }
  }
  const partialRotary = raw.partial_rotary_factor;
  if (partialRotary !== undefined && partialRotary !== null && partialRotary !== 1) {
    throw new UnsupportedArchitectureError(`partial_rotary_factor ${String(partialRotary)} is not supported; only 1`, {
      file,
      field: "partial_rotary_factor",
    });
  }
}

/** Parses rope_scaling, reading the type from `rope_type` or the legacy key `type`. */
export function parseRopeScaling(value: unknown, file: string): RopeScaling {
  if (value === undefined || value === null) return { type: "none" };
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new InvalidConfigError(`rope_scaling must be an object or null, got ${JSON.stringify(value)}`, {
      file,
      field: "rope_scaling",
    });
  }
  const scaling = value as Json;
  const type = scaling.rope_type ?? scaling.type;
  const field = "rope_scaling";

  if (type === "default") return { type: "none" };
  if (type === "linear") return { type: "linear", factor: positiveNumber(scaling, "factor", file, field) };
  if (type === "llama3") {
    return {
      type: "llama3",
      factor: positiveNumber(scaling, "factor", file, field),
      lowFreqFactor: positiveNumber(scaling, "low_freq_factor", file, field),
      highFreqFactor: positiveNumber(scaling, "high_freq_factor", file, field),
      originalMaxPositionEmbeddings: positiveNumber(scaling, "original_max_position_embeddings", file, field),
    };
  }
  if (typeof type !== "string") {
    throw new InvalidConfigError("rope_scaling needs a rope_type (or legacy type) string", { file, field: "rope_scaling.rope_type" });
  }
  throw new UnsupportedArchitectureError(
    `rope_scaling type ${JSON.stringify(type)} is not supported; supported: default, linear, llama3`,
    { file, field: "rope_scaling.rope_type" },
  );
}

function parseEosTokenIds(value: unknown, file: string): number[] {
  if (value === undefined || value === null) return [];
  const values = Array.isArray(value) ? value : [value];
  if (!values.every(isTokenId)) {
    throw new InvalidConfigError(`eos_token_id must be a token id or a list of ids, got ${JSON.stringify(value)}`, {
      file,
      field: "eos_token_id",
    });
  }
  return [...new Set(values as number[])];
}

function isTokenId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function positiveInteger(raw: Json, key: string, file: string): number {
  const value = optionalPositiveInteger(raw, key, file);
  if (value === undefined) {
    throw new InvalidConfigError(`${key} is missing; config.json must set it`, { file, field: key });
  }
  return value;
}

function optionalPositiveInteger(raw: Json, key: string, file: string): number | undefined {
  const value = raw[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidConfigError(`${key} must be a positive integer, got ${JSON.stringify(value)}`, { file, field: key });
  }
  return value;
}

function optionalPositiveNumber(raw: Json, key: string, file: string): number | undefined {
  const value = raw[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new InvalidConfigError(`${key} must be a positive number, got ${JSON.stringify(value)}`, { file, field: key });
  }
  return value;
}

function positiveNumber(raw: Json, key: string, file: string, parent: string): number {
  const value = raw[key];
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new InvalidConfigError(`${key} must be a positive number, got ${JSON.stringify(value)}`, {
      file,
      field: `${parent}.${key}`,
    });
  }
  return value;
}

function optionalBoolean(raw: Json, key: string, file: string): boolean | undefined {
  const value = raw[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") {
    throw new InvalidConfigError(`${key} must be true or false, got ${JSON.stringify(value)}`, { file, field: key });
  }
  return value;
}

function optionalTokenId(raw: Json, key: string, file: string): number | undefined {
  const value = raw[key];
  if (value === undefined || value === null) return undefined;
  if (!isTokenId(value)) {
    throw new InvalidConfigError(`${key} must be a token id, got ${JSON.stringify(value)}`, { file, field: key });
  }
  return value;
}
