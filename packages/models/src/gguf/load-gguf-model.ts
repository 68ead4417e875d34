// Loads a llama GGUF file into a LoadedModel: validated header, metadata, tokenizer, config and
// float32 weights with q and k rows in the "half" RoPE layout.
import { open } from "node:fs/promises";
import { resolve } from "node:path";

import { silentProgress, type LoadedModel, type ProgressListener } from "@elitekv/core";

import { createGgufTokenizer } from "../tokenizers/gguf-tokenizer.js";
import { ggmlTypeLabel } from "./ggml-type.js";
import { ggufModelConfig, checkGgufArchitecture } from "./gguf-config.js";
import { readGgufHeader, type GgufHeader } from "./gguf-header.js";
import { readGgufMetadata } from "./gguf-metadata.js";
import { ropeFrequencyTensorName } from "./gguf-rope-scaling.js";
import { planGgufWeights, readGgufTensor, readGgufWeights } from "./gguf-weights.js";

export interface LoadGgufOptions {
  onProgress?: ProgressListener;
}

/**
 * Loads the llama model in the GGUF file at `path`. Every header field is bounds-checked before use.
 * Errors are the typed errors of @elitekv/core and name the file and the key or tensor at fault.
 */
export async function loadGgufModel(path: string, options: LoadGgufOptions = {}): Promise<LoadedModel> {
  const onProgress = options.onProgress ?? silentProgress;
  const header = await readGgufHeader(path);
  const metadata = await readGgufMetadata(header);
  checkGgufArchitecture(metadata);

  const tokenizer = createGgufTokenizer(metadata);
  const ropeFactors = await readRopeFactors(header);
  const config = ggufModelConfig({
    header,
    metadata,
    ropeFactors,
    bosTokenId: tokenizer.bosId,
    eosTokenIds: [...tokenizer.eosIds],
    tokenizerVocabSize: tokenizer.vocabSize,
  });

  const plans = planGgufWeights(header, config);
  const weights = await readGgufWeights(header, config, plans, onProgress);

  const details: Record<string, string | number | boolean> = {
    version: header.version,
    alignment: header.alignment,
    tensorTypes: tensorTypeHistogram(header),
    tokenizerModel: tokenizer.vocabulary.model,
  };
  const fileType = metadata.integer("general.file_type");
  if (fileType !== undefined) details.fileType = fileType;
  const name = metadata.string("general.name");
  if (name !== undefined) details.name = name;
  if (tokenizer.vocabulary.pre !== undefined) details.preTokenizer = tokenizer.vocabulary.pre;
  if (tokenizer.vocabulary.bosId !== null) details.bosTokenId = tokenizer.vocabulary.bosId;

  return {
    config,
    weights,
    tokenizer,
    source: { format: "gguf", path, files: [resolve(path)], details },
  };
}

async function readRopeFactors(header: GgufHeader): Promise<Float32Array | undefined> {
  const tensor = header.tensors.find((candidate) => candidate.name === ropeFrequencyTensorName);
  if (tensor === undefined) return undefined;
  const handle = await open(header.path, "r");
  try {
    return await readGgufTensor(handle, header, tensor);
  } finally {
    await handle.close();
  }
}

/** "F32: 61, Q4_1: 210, Q8_0: 1": tensor count per ggml type, by type name. */
function tensorTypeHistogram(header: GgufHeader): string {
  const counts = new Map<string, number>();
  for (const tensor of header.tensors) {
    const label = ggmlTypeLabel(tensor.type);
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([label, count]) => `${label}: ${count}`)
    .join(", ");
}
