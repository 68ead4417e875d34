// Shared test fixtures: the tiny shared models, a deterministic chunk ranking and conversions of them.
import { readFileSync } from "node:fs";

import type { LoadedModel } from "@elitekv/core";
import { convertModel, type ChunkRanking, type ConversionTarget } from "@elitekv/converter";
import { loadModel } from "@elitekv/models";
import { sharedPath } from "@elitekv/vitest-config/shared";

export const tinyStoriesModelPath = sharedPath("models", "tinystories-656k");
export const storiesModelPath = sharedPath("models", "stories260K", "stories260K.bin");
export const tinyStoriesTextPath = sharedPath("data", "tinystories-valid-prefix", "tinystories_val.txt");

/** Returns a ranking in which every KV head ranks its chunks 0, 1, 2, ...: deterministic and independent of the weights. */
export function ascendingRanking(model: LoadedModel): ChunkRanking {
  const chunks = Array.from({ length: model.config.headDim / 2 }, (_, j) => j);
  return {
    layers: Array.from({ length: model.config.numLayers }, () => ({
      kvHeads: Array.from({ length: model.config.numKvHeads }, () => ({ ranking: [...chunks] })),
    })),
  };
}

/** Returns the converted model of `base` at `target` with the weight SVD, as a LoadedModel. */
export async function convertedModel(base: LoadedModel, target: ConversionTarget): Promise<LoadedModel> {
  const converted = await convertModel(base, ascendingRanking(base), target, { svd: "weight" });
  return { ...base, weights: converted.weights, elite: converted.elite };
}

export async function loadTinyStories(): Promise<LoadedModel> {
  return loadModel(tinyStoriesModelPath);
}

/**
 * Returns ids of the TinyStories prefix: `calibration` from character 400,000 on and `heldOut` from the
 * start, so that the two never overlap.
 */
export function tinyStoriesIds(model: LoadedModel, calibrationTokens: number, heldOutChars: number): { calibration: number[]; heldOut: number[] } {
  const text = readFileSync(tinyStoriesTextPath, "utf8");
  const calibration = model.tokenizer.encode(text.slice(400_000, 400_000 + 16 * calibrationTokens), { addBos: true }).slice(0, calibrationTokens);
  const heldOut = model.tokenizer.encode(text.slice(0, heldOutChars), { addBos: true });
  return { calibration, heldOut };
}
