// Turns the --model, --tokenizer and --cache-dir options into a loaded model.
import type { LoadedModel, ProgressListener } from "@elitekv/core";
import { loadModel, resolveModelPath } from "@elitekv/models";

import type { ModelOptions } from "../options/common-options.js";

/**
 * Loads the model that --model names: a path (llama2.c .bin, Hugging Face folder, .gguf file) or the
 * name of a fetched model, which resolves inside the cache folder.
 */
export async function openModel(options: ModelOptions, onProgress: ProgressListener): Promise<LoadedModel> {
  const path = resolveModelPath(options.model, { cacheDir: options.cacheDir });
  return loadModel(path, { tokenizerPath: options.tokenizer, onProgress });
}
