// The checks every backend runs on a prefill before it queues any work: the token ids against the
// vocabulary, the logits mode and the captured layers. One implementation, so that every backend
// rejects the same inputs with the same typed errors.
import { InvalidArgumentError } from "../errors/error-classes.js";
import type { ModelConfig } from "../model/model-config.js";
import type { CaptureOptions, ForwardOptions } from "./backend.js";

/** A validated prefill: a private copy of the ids, the logits mode and the captured layers. */
export interface ForwardRequest {
  /** A copy, so that a caller changing its array while the call waits in a queue changes nothing. */
  tokens: number[];
  logits: "last" | "all";
  /** Captured layers in ascending order without duplicates; empty when nothing is captured. */
  capturedLayers: number[];
}

/**
 * Checks a prefill's ids and options against `config`. Throws InvalidArgumentError for an empty id
 * array, an id outside [0, vocabSize), an unknown logits mode, a capture without a callback and a
 * captured layer outside [0, numLayers).
 */
export function validateForwardRequest(config: ModelConfig, ids: readonly number[], options: ForwardOptions = {}): ForwardRequest {
  validateTokenIds(ids, config.vocabSize);

  const logits = options.logits ?? "last";
  if (logits !== "last" && logits !== "all") {
    throw new InvalidArgumentError(`logits must be "last" or "all", got ${String(logits)}`, { field: "logits" });
  }

  const capturedLayers = options.capture === undefined ? [] : capturedLayerList(options.capture, config.numLayers);
  return { tokens: Array.from(ids), logits, capturedLayers };
}

/** Throws InvalidArgumentError naming the first id that is not an integer in [0, vocabSize). */
export function validateTokenIds(ids: readonly number[], vocabSize: number): void {
  if (!Array.isArray(ids) || ids.length === 0) {
    throw new InvalidArgumentError("prefill needs a non-empty array of token ids", { field: "ids" });
  }
  for (let index = 0; index < ids.length; index++) {
    const id = ids[index];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new InvalidArgumentError(
        `token id ${String(id)} at index ${index} is not an integer in [0, ${vocabSize}); check that the tokenizer matches the model`,
        { field: "ids" },
      );
    }
  }
}

/** Returns the captured layers in ascending order without duplicates: all layers when none are named. */
function capturedLayerList(capture: CaptureOptions, numLayers: number): number[] {
  if (typeof capture.onCapture !== "function") {
    throw new InvalidArgumentError("capture.onCapture must be a function", { field: "capture.onCapture" });
  }
  if (capture.layers === undefined) return Array.from({ length: numLayers }, (_, layer) => layer);

  for (const layer of capture.layers) {
    if (!Number.isInteger(layer) || layer < 0 || layer >= numLayers) {
      throw new InvalidArgumentError(`capture layer ${String(layer)} is not an integer in [0, ${numLayers})`, {
        field: "capture.layers",
      });
    }
  }
  return [...new Set(capture.layers)].sort((a, b) => a - b);
}
