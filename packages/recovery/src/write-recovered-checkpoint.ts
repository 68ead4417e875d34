// Writes a recovered model as an EliteKV checkpoint in the same format as a conversion: the converted
// checkpoint's provenance (ranking, source SHA-256, SVD mode, allocation) plus the recovery record.
import { InvalidArgumentError, type LoadedModel, type ProgressListener, type WeightStore } from "@elitekv/core";
import { writeEliteKvCheckpoint, type WrittenCheckpoint } from "@elitekv/converter";
import type { EliteKvManifest, EliteKvRecovery, EliteKvStorageDtype } from "@elitekv/models";

import type { DistillationRecoveryResult } from "./distillation-recovery.js";
import type { LayerwiseRecoveryResult } from "./layerwise-recovery.js";

export interface RecoveredCheckpointInput {
  /** The base model: the checkpoint takes its tokenizer files from it. */
  base: LoadedModel;
  /** The converted model that was recovered. */
  model: LoadedModel;
  /** elitekv.json of the converted checkpoint. */
  manifest: EliteKvManifest;
  /** Every weight of the recovered model. */
  weights: WeightStore;
  recovery: EliteKvRecovery;
  /** Storage type of the weights; defaults to the converted checkpoint's. */
  dtype?: EliteKvStorageDtype;
  overwrite?: boolean;
  onProgress?: ProgressListener;
}

/** Writes the checkpoint to the folder `dir` through writeEliteKvCheckpoint, which writes atomically. */
export async function writeRecoveredCheckpoint(dir: string, input: RecoveredCheckpointInput): Promise<WrittenCheckpoint> {
  const { manifest } = input;
  if (input.model.elite === undefined) {
    throw new InvalidArgumentError(`${input.model.source.path} is not an EliteKV model; pass the converted model that was recovered`, { field: "model" });
  }
  return writeEliteKvCheckpoint(dir, {
    model: input.base,
    converted: { weights: input.weights, elite: input.model.elite, ratio: manifest.elite.ratio, report: [] },
    provenance: {
      ranking: manifest.ranking,
      sourceSha256: manifest.sourceSha256,
      svd: manifest.svd,
      allocation: manifest.allocation,
      recovery: input.recovery,
    },
    dtype: input.dtype ?? manifest.dtype,
    overwrite: input.overwrite,
    onProgress: input.onProgress,
  });
}

/** Returns the manifest record of a layer-wise recovery run. */
export function layerwiseRecoveryRecord(
  result: LayerwiseRecoveryResult,
  run: { text: string; seqLen: number; steps: number; seed: number },
): EliteKvRecovery {
  return {
    method: "layerwise",
    text: run.text,
    tokens: result.tokens,
    seqLen: run.seqLen,
    steps: run.steps,
    seed: run.seed,
    layers: result.layers.map(({ layer, lossBefore, lossAfter }) => ({ layer, lossBefore, lossAfter })),
  };
}

/**
 * Returns the manifest record of a distillation run. With `layerwise`, the record of the layer-wise fit
 * that ran first on the same calibration text, the method is "both".
 */
export function distillationRecoveryRecord(
  result: DistillationRecoveryResult,
  run: { text: string; seqLen: number; seed: number },
  layerwise?: EliteKvRecovery,
): EliteKvRecovery {
  return {
    method: layerwise === undefined ? "distill" : "both",
    text: run.text,
    tokens: result.tokens,
    seqLen: run.seqLen,
    steps: layerwise?.steps ?? 0,
    seed: run.seed,
    layers: layerwise?.layers ?? [],
    distillation: {
      steps: result.steps,
      learningRate: result.learningRate,
      klBefore: result.klBefore,
      klAfter: result.klAfter,
      kept: result.kept,
    },
  };
}
