// The model configurations a decode benchmark compares: the base model with the full KV cache, and
// EliteKV conversions of it at given cache ratios. Conversions use the high-frequency chunk ranking
// and the weight SVD, because decode speed depends only on r and d_c, not on which chunks are kept.
import { convertModel } from "@elitekv/converter";
import { InvalidArgumentError, type LoadedModel, type ProgressListener } from "@elitekv/core";
import { highFrequencyRanking } from "@elitekv/ropelite";

export type BenchConfiguration = { kind: "full" } | { kind: "elitekv"; ratio: number };

export interface PreparedBenchModel {
  model: LoadedModel;
  /** Present for an EliteKV configuration. */
  conversion?: {
    requestedRatio: number;
    /** Cache ratio the resolved r and d_c achieve. */
    achievedRatio: number;
    ropeChunksPerHead: number;
    latentDim: number;
    ranking: "high-frequency";
    svd: "weight";
    seconds: number;
  };
}

/** Returns "full" or "elitekv-<ratio>", the key of a configuration in reports. */
export function benchConfigurationLabel(configuration: BenchConfiguration): string {
  return configuration.kind === "full" ? "full" : `elitekv-${configuration.ratio}`;
}

/** Parses "full" or a ratio in (0, 1] such as "0.25". Throws InvalidArgumentError naming `field`. */
export function parseBenchConfiguration(text: string, field: string): BenchConfiguration {
  const trimmed = text.trim();
  if (trimmed === "full") return { kind: "full" };

  const ratio = Number(trimmed);
  if (trimmed === "" || !(ratio > 0 && ratio <= 1)) {
    throw new InvalidArgumentError(`invalid configuration ${JSON.stringify(text)}; use "full" or a cache ratio in (0, 1] such as 0.25`, {
      field,
    });
  }
  return { kind: "elitekv", ratio };
}

/**
 * Returns the base model for "full", or converts it in memory with convertModel(model, high-frequency
 * ranking, { ratio }, { svd: "weight" }). The converted model shares the unchanged tensors of `base`.
 */
export async function prepareBenchModel(
  base: LoadedModel,
  configuration: BenchConfiguration,
  onProgress?: ProgressListener,
): Promise<PreparedBenchModel> {
  if (configuration.kind === "full") return { model: base };

  const chunks = highFrequencyRanking(base.config.headDim / 2);
  const ranking = {
    layers: Array.from({ length: base.config.numLayers }, () => ({
      kvHeads: Array.from({ length: base.config.numKvHeads }, () => ({ ranking: chunks })),
    })),
  };

  const started = performance.now();
  const converted = await convertModel(base, ranking, { ratio: configuration.ratio }, { svd: "weight", onProgress });
  const seconds = (performance.now() - started) / 1000;

  return {
    model: { ...base, weights: converted.weights, elite: converted.elite },
    conversion: {
      requestedRatio: configuration.ratio,
      achievedRatio: converted.ratio,
      ropeChunksPerHead: converted.elite.ropeChunksPerHead,
      latentDim: converted.elite.layers[0].latentDim,
      ranking: "high-frequency",
      svd: "weight",
      seconds,
    },
  };
}
