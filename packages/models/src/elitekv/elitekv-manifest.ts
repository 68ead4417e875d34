// elitekv.json, the description of an EliteKV checkpoint folder: the base model's config, the elite
// chunks of every layer and KV head with their RoPE frequencies, the latent widths, and how the
// checkpoint was made. Weights in the folder's model.safetensors use canonical names and "half" q/k rows
// whatever the value of `baseConfig.rope.sourceLayout`, because that field records the original file.
import {
  ropeInverseFrequencies,
  validateEliteKvConfig,
  type EliteKvConfig,
  type ModelConfig,
} from "@elitekv/core";

export const eliteKvManifestFileName = "elitekv.json";
export const eliteKvWeightsFileName = "model.safetensors";
export const eliteKvFormatVersion = 1;

export type EliteKvSvdMode = "weight" | "activation";
export type EliteKvStorageDtype = "f32" | "f16";

/** JSON values that describe the calibration data of the chunk ranking (text source, tokens, seed). */
export type EliteKvCalibration = Record<string, string | number | boolean | null>;

export interface EliteKvRankingProvenance {
  /** Name of the ranking strategy, such as "ropelite" or "uniform". */
  strategy: string;
  calibration: EliteKvCalibration;
}

/** One split of the cache budget scored by the allocation search. */
export interface EliteKvAllocationCandidate {
  ropeChunks: number;
  latentDim: number;
  /** Perplexity on the allocation text. */
  ppl: number;
}

/** How r and d_c were chosen: the fixed ratio rule, or the lowest perplexity among candidates. */
export interface EliteKvAllocation {
  method: "rule" | "search";
  /** Label of the text the candidates were scored on; null for the rule. */
  text: string | null;
  /** Ids scored per candidate; 0 for the rule. */
  tokens: number;
  candidates: EliteKvAllocationCandidate[];
}

/** Calibration loss of one layer's attention block against the base model's block on the same inputs. */
export interface EliteKvRecoveryLayer {
  layer: number;
  /** ‖Y − Ŷ‖²_F / ‖Y‖²_F over the calibration tokens before recovery, Y the base block output. */
  lossBefore: number;
  /** The same relative squared error after recovery. */
  lossAfter: number;
}

/** End-to-end distillation of the converted model's attention weights against the base model. */
export interface EliteKvDistillation {
  /** Adam steps, one calibration window each. */
  steps: number;
  learningRate: number;
  /** Mean KL(base ‖ converted) per position over the calibration windows before the steps, in nats. */
  klBefore: number;
  /** The same mean KL after the steps. */
  klAfter: number;
  /** False when the steps raised the KL and the checkpoint contains the weights from before them. */
  kept: boolean;
}

/** Record of the refit of the converted weights to the base model; every number comes from calibration text. */
export interface EliteKvRecovery {
  method: "layerwise" | "distill" | "both";
  /** Label of the calibration text. */
  text: string;
  /** Calibration ids fitted on: windows × seqLen. */
  tokens: number;
  /** Ids per calibration window. */
  seqLen: number;
  /** Adam steps per layer of the layer-wise fit; 0 when only closed-form least squares ran or no layer-wise fit ran. */
  steps: number;
  seed: number;
  /** Layer-wise fit losses; empty for method "distill". */
  layers: EliteKvRecoveryLayer[];
  /** Present for methods "distill" and "both". */
  distillation?: EliteKvDistillation;
}

export interface EliteKvManifestLayer {
  latentDim: number;
  /** Elite chunk indices per KV head, in ranking order. */
  ropeChunks: number[][];
  /** RoPE frequency θ_j in radians per position of each chunk in `ropeChunks`, scaling included. */
  ropeFrequencies: number[][];
}

export interface EliteKvManifestElite {
  ropeChunksPerHead: number;
  /** latentDim of every layer, in layer order. */
  latentDims: number[];
  /** Cache size over the full KV cache, summed over layers: Σ(2·G·r + d_c) / (L·2·G·h). */
  ratio: number;
  layers: EliteKvManifestLayer[];
}

export interface EliteKvManifest {
  formatVersion: typeof eliteKvFormatVersion;
  baseConfig: ModelConfig;
  elite: EliteKvManifestElite;
  svd: EliteKvSvdMode;
  dtype: EliteKvStorageDtype;
  ranking: EliteKvRankingProvenance;
  /** SHA-256 of the source model's weight file, lowercase hex. */
  sourceSha256: string;
  /** Absent in checkpoints written before the allocation search existed. */
  allocation?: EliteKvAllocation;
  /** Present only in checkpoints written by `elitekv recover`. */
  recovery?: EliteKvRecovery;
}

export interface EliteKvManifestInput {
  baseConfig: ModelConfig;
  elite: EliteKvConfig;
  svd: EliteKvSvdMode;
  dtype: EliteKvStorageDtype;
  ranking: EliteKvRankingProvenance;
  sourceSha256: string;
  allocation?: EliteKvAllocation;
  recovery?: EliteKvRecovery;
}

/** Returns the whole-model cache ratio Σ(2·G·r + d_c) / (L·2·G·h). */
export function eliteKvRatio(config: ModelConfig, elite: EliteKvConfig): number {
  const full = config.numLayers * 2 * config.numKvHeads * config.headDim;
  const cached = elite.layers.reduce((sum, layer) => sum + 2 * config.numKvHeads * elite.ropeChunksPerHead + layer.latentDim, 0);
  return cached / full;
}

/** Builds the manifest of a checkpoint, adding each elite chunk's frequency and the ratio. */
export function buildEliteKvManifest(input: EliteKvManifestInput): EliteKvManifest {
  const elite = validateEliteKvConfig(input.baseConfig, input.elite);
  const frequencies = ropeInverseFrequencies(input.baseConfig.rope);
  return {
    formatVersion: eliteKvFormatVersion,
    baseConfig: input.baseConfig,
    elite: {
      ropeChunksPerHead: elite.ropeChunksPerHead,
      latentDims: elite.layers.map((layer) => layer.latentDim),
      ratio: eliteKvRatio(input.baseConfig, elite),
      layers: elite.layers.map((layer) => ({
        latentDim: layer.latentDim,
        ropeChunks: layer.ropeChunks.map((chunks) => [...chunks]),
        ropeFrequencies: layer.ropeChunks.map((chunks) => chunks.map((chunk) => frequencies[chunk])),
      })),
    },
    svd: input.svd,
    dtype: input.dtype,
    ranking: { strategy: input.ranking.strategy, calibration: { ...input.ranking.calibration } },
    sourceSha256: input.sourceSha256,
    ...(input.allocation === undefined ? {} : { allocation: structuredClone(input.allocation) }),
    ...(input.recovery === undefined ? {} : { recovery: structuredClone(input.recovery) }),
  };
}

/** Returns the EliteKvConfig a backend reads, without the manifest's derived fields. */
export function eliteConfigOfManifest(manifest: EliteKvManifest): EliteKvConfig {
  return {
    ropeChunksPerHead: manifest.elite.ropeChunksPerHead,
    layers: manifest.elite.layers.map((layer) => ({
      ropeChunks: layer.ropeChunks.map((chunks) => [...chunks]),
      latentDim: layer.latentDim,
    })),
  };
}
