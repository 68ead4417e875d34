// The allocation search of `convert --ratio`: converts the model once per candidate split of the cache
// budget (rotated chunks r against latent width d_c), scores each on calibration text and keeps the
// split with the lowest perplexity. Evaluation text never enters it.
import type { LoadedModel, MatmulProvider, Matrix, ProgressListener } from "@elitekv/core";
import {
  convertModel,
  ropeChunkCandidates,
  type ChunkRanking,
  type ConvertedModel,
  type LatentAllocation,
  type SvdMode,
} from "@elitekv/converter";
import { computePerplexity } from "@elitekv/eval";
import type { EliteKvAllocation } from "@elitekv/models";

import { withSession, type BackendName } from "../model/with-session.js";

export interface AllocationSearchRequest {
  ratio: number;
  /** Multiples of the rule's r to try; defaults to the converter's defaultRuleMultiples. */
  multiples?: readonly number[];
  svd: SvdMode;
  /** Split of each candidate's latent budget over the layers; defaults to "uniform". */
  latentAllocation?: LatentAllocation;
  covariances?: Matrix[];
  matmul?: MatmulProvider;
  /** Calibration ids; the candidates are scored on their last windows. */
  ids: readonly number[];
  textLabel: string;
  backend?: BackendName;
  threads?: number;
}

export interface AllocationSearchResult {
  converted: ConvertedModel;
  allocation: EliteKvAllocation;
}

// Windows of 256 ids keep every candidate's score to a few seconds on ORT; four of them give a
// perplexity stable enough to separate splits whose quality differs by several percent (an estimate).
const scoringWindow = 256;
const scoringWindows = 4;

export async function searchRopeChunks(
  model: LoadedModel,
  ranking: ChunkRanking,
  request: AllocationSearchRequest,
  onProgress: ProgressListener,
): Promise<AllocationSearchResult> {
  const candidates = ropeChunkCandidates(model.config, request.ratio, request.multiples);
  const window = Math.min(scoringWindow, model.config.maxPositionEmbeddings, request.ids.length);
  const ids = request.ids.slice(-Math.min(request.ids.length, scoringWindows * window));
  const started = Date.now();
  onProgress({ type: "start", task: "allocation", total: candidates.length, unit: "split", message: `ratio ${request.ratio}` });

  let best: { converted: ConvertedModel; ppl: number } | undefined;
  const scored: EliteKvAllocation["candidates"] = [];
  for (const candidate of candidates) {
    const converted = await convertModel(
      model,
      ranking,
      { ropeChunks: candidate.ropeChunks, latentDim: candidate.latentDim },
      { svd: request.svd, latentAllocation: request.latentAllocation, covariances: request.covariances, matmul: request.matmul },
    );
    const candidateModel: LoadedModel = { ...model, weights: converted.weights, elite: converted.elite };
    const { ppl } = await withSession(candidateModel, { backend: request.backend, threads: request.threads, maxContext: window }, (session) =>
      computePerplexity(session, ids, { window }),
    );

    scored.push({ ropeChunks: candidate.ropeChunks, latentDim: candidate.latentDim, ppl });
    if (best === undefined || ppl < best.ppl) best = { converted, ppl };
    onProgress({
      type: "advance",
      task: "allocation",
      current: scored.length,
      total: candidates.length,
      unit: "split",
      metrics: { ropeChunks: candidate.ropeChunks, latentDim: candidate.latentDim, ppl },
    });
  }

  onProgress({ type: "end", task: "allocation", seconds: (Date.now() - started) / 1000 });
  return {
    converted: best!.converted,
    allocation: { method: "search", text: request.textLabel, tokens: ids.length, candidates: scored },
  };
}
