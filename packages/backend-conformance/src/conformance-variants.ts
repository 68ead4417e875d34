// The model variants every check runs on: the base model and EliteKV conversions of it at several cache
// targets, built in memory with a fixed chunk ranking so that every run converts the same way.
import { type LoadedModel, type ModelConfig } from "@elitekv/core";
import { convertModel, maxLatentDim, type ChunkRanking, type ConversionTarget } from "@elitekv/converter";

export type ConformanceVariantName = "base" | "full-rank" | "ratio-0.5" | "ratio-0.25";

export interface ConformanceVariant {
  name: ConformanceVariantName;
  /** Cache target of the conversion, or undefined for the base model. */
  target: (config: ModelConfig) => ConversionTarget | undefined;
}

/** Returns the lossless target: every chunk rotated and the largest latent the layer allows. */
function fullRankTarget(config: ModelConfig): ConversionTarget {
  const ropeChunks = config.headDim / 2;
  return { ropeChunks, latentDim: maxLatentDim(config, ropeChunks) };
}

export const conformanceVariants: readonly ConformanceVariant[] = Object.freeze([
  { name: "base", target: () => undefined },
  { name: "full-rank", target: fullRankTarget },
  { name: "ratio-0.5", target: () => ({ ratio: 0.5 }) },
  { name: "ratio-0.25", target: () => ({ ratio: 0.25 }) },
]);

/** Returns the ranking 0, 1, …, h/2 − 1 for every layer and KV head: the highest RoPE frequency first. */
export function highFrequencyRanking(config: ModelConfig): ChunkRanking {
  const chunks = Array.from({ length: config.headDim / 2 }, (_, chunk) => chunk);
  return {
    layers: Array.from({ length: config.numLayers }, () => ({
      kvHeads: Array.from({ length: config.numKvHeads }, () => ({ ranking: [...chunks] })),
    })),
  };
}

/**
 * Returns `model` converted to `variant` with the high-frequency ranking and the weight SVD, or `model`
 * itself for "base". Throws the converter's InvalidArgumentError when the target is infeasible for the
 * model (ratio 0.25 of llama-2-tiny-random-gguf, for example).
 */
export async function buildConformanceVariant(model: LoadedModel, variant: ConformanceVariant): Promise<LoadedModel> {
  const target = variant.target(model.config);
  if (target === undefined) return model;

  const converted = await convertModel(model, highFrequencyRanking(model.config), target, { svd: "weight" });
  return { ...model, weights: converted.weights, elite: converted.elite };
}
