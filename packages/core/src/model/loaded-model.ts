// LoadedModel: everything a backend needs to run a model, plus where it came from.
import type { EliteKvConfig } from "./elitekv-config.js";
import type { ModelConfig } from "./model-config.js";
import type { Tokenizer } from "./tokenizer.js";
import type { WeightStore } from "./weight-store.js";

export type ModelFormat = "llama2c" | "huggingface" | "gguf" | "elitekv";

export interface ModelSource {
  format: ModelFormat;
  /** The path the caller passed. */
  path: string;
  /** Weight files read, absolute paths. */
  files: string[];
  /** Details such as the llama2.c version or GGUF file type, for `info`. */
  details: Record<string, string | number | boolean>;
}

export interface LoadedModel {
  config: ModelConfig;
  weights: WeightStore;
  tokenizer: Tokenizer;
  source: ModelSource;
  /** Present for a converted model: its attention uses the `eliteWeightNames` weights and an EliteKV cache. */
  elite?: EliteKvConfig;
}
