// The analyze step: RoPElite (or a baseline) chunk ranking of a base model on calibration ids.
import { InvalidArgumentError, type LoadedModel, type ProgressListener } from "@elitekv/core";
import { analyzeModel, type RankingStrategy, type RopeliteRanking } from "@elitekv/ropelite";

import { withSession, type BackendName } from "../model/with-session.js";

export interface RankChunksRequest {
  strategy: RankingStrategy;
  /** Ids per calibration window (L). */
  seqLen: number;
  /** Causal pairs sampled per window. */
  pairs: number;
  seed: number;
  /** Label of the calibration text stored in the ranking. */
  textLabel: string;
  backend?: BackendName;
  threads?: number;
}

/**
 * Ranks the chunks of every layer and KV head of `model` on ceil(ids.length / seqLen) windows of
 * seqLen ids sampled from `ids`. Throws InvalidArgumentError, naming the flag, for a window longer than
 * the model's context or than the calibration ids.
 */
export async function rankChunks(
  model: LoadedModel,
  ids: readonly number[],
  request: RankChunksRequest,
  onProgress: ProgressListener,
): Promise<RopeliteRanking> {
  const contextLength = model.config.maxPositionEmbeddings;
  if (request.seqLen > contextLength) {
    throw new InvalidArgumentError(
      `--seq-len ${request.seqLen} exceeds the context length of ${contextLength} tokens of ${model.source.path}; ` +
        `pass --seq-len ${contextLength} or less`,
      { field: "seqLen" },
    );
  }
  if (ids.length < request.seqLen) {
    throw new InvalidArgumentError(
      `the calibration text has ${ids.length} tokens, fewer than one window of --seq-len ${request.seqLen}; ` +
        `pass more text, a larger --tokens or --seq-len ${ids.length} or less`,
      { field: "seqLen" },
    );
  }

  const windows = Math.ceil(ids.length / request.seqLen);
  return withSession(model, { backend: request.backend, threads: request.threads, maxContext: request.seqLen }, (session) =>
    analyzeModel(session, model, ids, {
      strategy: request.strategy,
      windows,
      windowLength: request.seqLen,
      pairs: request.pairs,
      seed: request.seed,
      text: request.textLabel,
      onProgress,
    }),
  );
}
