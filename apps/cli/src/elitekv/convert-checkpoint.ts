// The convert step: checks that a ranking belongs to the model, collects covariances for the
// activation-aware SVD, converts, and writes the EliteKV checkpoint with its provenance.
import {
  cacheBytesPerToken,
  eliteCacheLayout,
  fullCacheLayout,
  InvalidArgumentError,
  type LoadedModel,
  type Matrix,
  type ProgressListener,
} from "@elitekv/core";
import {
  collectCovariances,
  convertModel,
  writeEliteKvCheckpoint,
  type ConversionTarget,
  type ConvertedModel,
  type LatentAllocation,
  type SvdMode,
} from "@elitekv/converter";
import { fileSha256, type EliteKvAllocation, type EliteKvStorageDtype } from "@elitekv/models";
import { fingerprintModelFiles, type RopeliteRanking } from "@elitekv/ropelite";
import { createOrtMatmul } from "@elitekv/runtime-ort";

import { withSession, type BackendName } from "../model/with-session.js";
import { searchRopeChunks } from "./allocate-rope-chunks.js";

export interface ConvertCheckpointRequest {
  ranking: RopeliteRanking;
  /** Path of the ranking file, for messages. */
  rankingPath: string;
  target: ConversionTarget;
  svd: SvdMode;
  /**
   * Calibration ids for the activation covariances and the allocation search. Required for svd
   * "activation" and for allocation "search".
   */
  calibrationIds?: readonly number[];
  /**
   * How a ratio target picks r and d_c: "rule" (r = max(1, round(ρ·h/4))) or "search" (the split with the
   * lowest perplexity on the calibration ids). Ignored for an explicit (r, d_c). Defaults to "rule".
   */
  allocation?: "rule" | "search";
  /** Split of the latent budget over the layers; defaults to "uniform". */
  latentAllocation?: LatentAllocation;
  /** Multiples of the rule's r that the search tries; defaults to the converter's defaultRuleMultiples. */
  allocationMultiples?: readonly number[];
  /** Label of the covariance calibration text, stored in the provenance. */
  calibrationLabel?: string;
  dtype: EliteKvStorageDtype;
  overwrite: boolean;
  out: string;
  backend?: BackendName;
  threads?: number;
}

export interface ConvertedCheckpoint {
  out: string;
  /** Achieved cache ratio (2·G·r + d_c) / (2·G·h). */
  ratio: number;
  ropeChunks: number;
  /** Latent width of layer 0; see latentDims when the layers differ. */
  latentDim: number;
  latentDims: number[];
  /** How r and d_c were chosen, for a ratio target. */
  allocation?: EliteKvAllocation;
  /** Per layer ‖W_kv − A B‖_F / ‖W_kv‖_F. */
  weightRelativeErrors: number[];
  /** Bytes one token occupies in a float32 KV cache of the base and the converted model, over all layers. */
  cacheBytesPerToken: { base: number; model: number };
}

// Ids per prefill while collecting covariances. Longer windows only change the positions the inputs
// come from, not the sum, so a short window keeps the attention cost low.
const covarianceWindow = 256;

/**
 * Converts `model` to EliteKV and writes the checkpoint to `request.out`. Throws InvalidArgumentError
 * when the ranking's fingerprint differs from the model's, for an infeasible target and for svd
 * "activation" without calibration ids.
 */
export async function convertCheckpoint(
  model: LoadedModel,
  request: ConvertCheckpointRequest,
  onProgress: ProgressListener,
): Promise<ConvertedCheckpoint> {
  const fingerprint = await fingerprintModelFiles(model.source.files);
  if (fingerprint !== request.ranking.model.fingerprint) {
    throw new InvalidArgumentError(
      `the ranking ${request.rankingPath} was made for the model with fingerprint ${request.ranking.model.fingerprint}, ` +
        `but ${model.source.path} has fingerprint ${fingerprint}; run elitekv analyze on this model first`,
      { field: "ranking" },
    );
  }

  // On ORT the covariance and SVD products run in ORT's GEMM as well.
  const matmul = request.backend === "cpu" ? undefined : await createOrtMatmul({ threads: request.threads });
  let converted: ConvertedModel;
  let allocation: EliteKvAllocation | undefined;
  try {
    let covariances: Matrix[] | undefined;
    if (request.svd === "activation") {
      const ids = request.calibrationIds;
      if (ids === undefined || ids.length === 0) {
        throw new InvalidArgumentError("--svd activation needs calibration text; pass --text", { field: "text" });
      }
      const window = Math.min(covarianceWindow, model.config.maxPositionEmbeddings);
      covariances = await withSession(model, { backend: request.backend, threads: request.threads, maxContext: window }, (session) =>
        collectCovariances(session, ids, { window, matmul, onProgress }),
      );
    }
    if (request.allocation === "search" && "ratio" in request.target) {
      const ids = request.calibrationIds;
      if (ids === undefined || ids.length < 2) {
        throw new InvalidArgumentError("the allocation search scores candidates on calibration text; pass --text", { field: "text" });
      }
      const search = await searchRopeChunks(
        model,
        request.ranking,
        {
          ratio: request.target.ratio,
          multiples: request.allocationMultiples,
          svd: request.svd,
          latentAllocation: request.latentAllocation,
          covariances,
          matmul,
          ids,
          textLabel: request.calibrationLabel ?? "",
          backend: request.backend,
          threads: request.threads,
        },
        onProgress,
      );
      converted = search.converted;
      allocation = search.allocation;
    } else {
      converted = await convertModel(model, request.ranking, request.target, {
        svd: request.svd,
        latentAllocation: request.latentAllocation,
        covariances,
        matmul,
        onProgress,
      });
      if ("ratio" in request.target) allocation = { method: "rule", text: null, tokens: 0, candidates: [] };
    }
  } finally {
    await matmul?.dispose();
  }

  const written = await writeEliteKvCheckpoint(request.out, {
    model,
    converted,
    provenance: {
      ranking: {
        strategy: request.ranking.strategy,
        calibration: {
          ...request.ranking.calibration,
          covarianceText: request.calibrationLabel ?? null,
          covarianceTokens: request.calibrationIds?.length ?? 0,
        },
      },
      sourceSha256: await fileSha256(weightFile(model)),
      svd: request.svd,
      allocation,
    },
    dtype: request.dtype,
    overwrite: request.overwrite,
    onProgress,
  });

  return {
    out: written.dir,
    ratio: converted.ratio,
    ropeChunks: converted.elite.ropeChunksPerHead,
    latentDim: converted.elite.layers[0].latentDim,
    latentDims: converted.elite.layers.map((layer) => layer.latentDim),
    allocation,
    weightRelativeErrors: converted.report.map((entry) => entry.weightRelativeError),
    cacheBytesPerToken: {
      base: cacheBytesPerToken(fullCacheLayout(model.config, "f32")),
      model: cacheBytesPerToken(eliteCacheLayout(model.config, converted.elite, "f32")),
    },
  };
}

/**
 * Returns the weights file among the files the loader read: the first .bin, .gguf or .safetensors file.
 * NOTE: a Hugging Face model sharded over several safetensors files records only its first shard.
 */
function weightFile(model: LoadedModel): string {
  const file = model.source.files.find((path) => /\.(bin|gguf|safetensors)$/.test(path));
  if (file === undefined) {
    throw new InvalidArgumentError(`${model.source.path} has no .bin, .gguf or .safetensors weight file to record as the source`, {
      field: "model",
    });
  }
  return file;
}
