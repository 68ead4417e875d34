// The number of converted models in one comparison pass. Each session keeps its own copy of its
// model's weights, so the count follows from a memory budget and the size of the base model.
import { totalmem } from "node:os";

import { elementCount, InvalidArgumentError, type LoadedModel } from "@elitekv/core";

/**
 * Estimated bytes of one session per float32 weight byte. A backend that builds a graph (ONNX Runtime)
 * keeps the encoded weights and its own initializers in memory at once while a session starts. One
 * measurement agrees: `elitekv sweep` of SmolLM2-135M (540 MB of float32 weights) with three ORT
 * sessions peaked at 3.9 GB resident, about 1 GB per session besides the loaded model.
 * NOTE: other backends and larger models may need more. Lower --models-per-pass when a sweep runs out
 * of memory.
 */
const sessionBytesPerWeightByte = 2;

/** Returns half the machine's memory, the default budget for the sessions of one pass. */
export function defaultSessionMemoryBudget(): number {
  return Math.floor(totalmem() / 2);
}

/** Returns the float32 bytes of a model's weights. Tensors that share one buffer (tied embeddings) count once. */
export function weightBytes(model: LoadedModel): number {
  const seen = new Set<Float32Array>();
  let bytes = 0;
  for (const name of model.weights.names()) {
    const tensor = model.weights.get(name);
    if (seen.has(tensor.data)) continue;
    seen.add(tensor.data);
    bytes += elementCount(tensor.shape) * 4;
  }
  return bytes;
}

/**
 * Returns how many converted models fit in one pass next to the base session: the budget divided by
 * the estimated bytes of one session, minus the base session, between 1 and `cells`. Every session
 * counts as the size of the base model, because a conversion changes only the attention key and value
 * weights, a small part of the model.
 */
export function modelsPerPass(model: LoadedModel, budgetBytes: number, cells: number): number {
  if (!(budgetBytes > 0)) {
    throw new InvalidArgumentError(`the session memory budget must be a positive number of bytes, got ${budgetBytes}`, {
      field: "sessionMemoryBudgetBytes",
    });
  }
  const sessionBytes = weightBytes(model) * sessionBytesPerWeightByte;
  const sessions = Math.floor(budgetBytes / Math.max(1, sessionBytes));
  return Math.max(1, Math.min(cells, sessions - 1));
}
