// The first sweep phase: one chunk ranking per strategy, then the activation covariances, all on one
// session of the base model. Every later conversion reuses these, whatever its ratio or SVD mode.
import type { LoadedModel, Matrix, ProgressEvent, ProgressListener } from "@elitekv/core";
import { analyzeModel, type RankingStrategy, type RopeliteRanking } from "@elitekv/ropelite";
import { collectCovariances } from "@elitekv/converter";

import { withBackendSessions, type SweepRuntime } from "./sweep-runtime.js";

export interface RankingPhaseRequest {
  model: LoadedModel;
  strategies: readonly RankingStrategy[];
  calibration: { ids: readonly number[]; label: string; seqLen: number; pairs: number; seed: number };
  /** Collect the per-layer Xᵀ X for the activation-aware SVD. */
  covariances: boolean;
  fingerprint: string;
  runtime: SweepRuntime;
  onProgress: ProgressListener;
}

export interface RankingPhaseResult {
  /** One ranking per strategy, in the order of `strategies`. */
  rankings: RopeliteRanking[];
  covariances: Matrix[] | undefined;
  rankSeconds: number;
  covarianceSeconds: number;
}

const rankTask = "rank";

// Ids per prefill while collecting covariances. Longer windows only change the positions the inputs
// come from, not the sum, so a short window keeps the attention cost low.
const covarianceWindow = 256;

/**
 * Ranks the chunks with every strategy on ceil(ids / seqLen) calibration windows, then collects the
 * covariances over all calibration ids when requested. Reports one "rank" task whose progress counts
 * layers over all strategies, and one "covariance" task.
 */
export async function rankStrategies(request: RankingPhaseRequest): Promise<RankingPhaseResult> {
  const { model, calibration, onProgress } = request;
  const layers = model.config.numLayers;
  const covarianceLength = Math.min(covarianceWindow, model.config.maxPositionEmbeddings);
  const maxContext = request.covariances ? Math.max(calibration.seqLen, covarianceLength) : calibration.seqLen;
  const windows = Math.ceil(calibration.ids.length / calibration.seqLen);

  return withBackendSessions(request.runtime, [model], maxContext, async ([session]) => {
    const rankStarted = performance.now();
    const total = request.strategies.length * layers;
    onProgress({ type: "start", task: rankTask, total, unit: "layers", message: request.strategies.join(", ") });

    const rankings: RopeliteRanking[] = [];
    for (const [index, strategy] of request.strategies.entries()) {
      const ranking = await analyzeModel(session, model, calibration.ids, {
        strategy,
        windows,
        windowLength: calibration.seqLen,
        pairs: calibration.pairs,
        seed: calibration.seed,
        text: calibration.label,
        fingerprint: request.fingerprint,
        onProgress: layerProgress(onProgress, strategy, index * layers, total),
      });
      rankings.push(ranking);
    }
    const rankSeconds = (performance.now() - rankStarted) / 1000;
    onProgress({ type: "end", task: rankTask, seconds: rankSeconds });

    if (!request.covariances) return { rankings, covariances: undefined, rankSeconds, covarianceSeconds: 0 };
    const covarianceStarted = performance.now();
    const covariances = await collectCovariances(session, calibration.ids, {
      window: covarianceLength,
      matmul: request.runtime.matmul,
      onProgress,
    });
    return { rankings, covariances, rankSeconds, covarianceSeconds: (performance.now() - covarianceStarted) / 1000 };
  });
}

/**
 * Returns a listener that turns one strategy's per-layer progress into advances of the shared "rank"
 * task, offset by the layers of the strategies before it. Its own start and end events are dropped.
 */
function layerProgress(onProgress: ProgressListener, strategy: RankingStrategy, offset: number, total: number): ProgressListener {
  return (event: ProgressEvent) => {
    if (event.type === "info") onProgress(event);
    if (event.type !== "advance") return;
    onProgress({ type: "advance", task: rankTask, current: offset + event.current, total, unit: "layers", message: strategy });
  };
}
