// The ranking job: sample calibration windows and pairs, capture as many layers per pass as the memory
// budget allows, and rank the chunks of every KV head with the chosen strategy.
import {
  InvalidArgumentError,
  silentProgress,
  type InferenceSession,
  type LoadedModel,
  type ProgressListener,
} from "@elitekv/core";

import { baselineHeadRanking } from "./baseline-head-ranking.js";
import { requireCount, requireSeed, sampleCalibrationWindows, sampleCausalPairs } from "./calibration-windows.js";
import { captureLayerGroups, captureLayers } from "./capture-layer.js";
import { computeChunkTerms, type ChunkTerms } from "./chunk-terms.js";
import { greedyRanking, type HeadRanking } from "./greedy-ranking.js";
import { fingerprintModelFiles } from "./model-fingerprint.js";
import { rankingStrategies, type LayerRanking, type RankingStrategy, type RopeliteRanking } from "./ranking-file.js";

export interface AnalyzeOptions {
  strategy: RankingStrategy;
  /** Calibration windows (N). */
  windows: number;
  /** Ids per window (L). The session must hold this many positions. */
  windowLength: number;
  /** Causal pairs sampled per window. */
  pairs: number;
  /** Unsigned 32-bit seed of the windows and pairs. */
  seed: number;
  /**
   * Most bytes of captured queries and keys held at once. Layers are captured in groups that fit, so a
   * budget below one layer's capture runs the windows once per layer. Defaults to 1 GiB.
   */
  captureBudgetBytes?: number;
  /** Label of the calibration text stored in the ranking, such as its file name. Defaults to "". */
  text?: string;
  /**
   * sha256 stored as model.fingerprint. Defaults to fingerprintModelFiles(model.source.files): the
   * weights plus the config or tokenizer files the loader read, which also shape the ranking.
   */
  fingerprint?: string;
  onProgress?: ProgressListener;
}

const progressTask = "ropelite";
const defaultCaptureBudgetBytes = 1024 ** 3;

/**
 * Ranks the RoPE chunks of every layer and KV head of `model`, run by `session`, on calibration
 * windows cut from `ids`. The "high-freq", "low-freq" and "uniform" strategies need no forward pass.
 * Emits one "advance" progress event per layer.
 */
export async function analyzeModel(
  session: InferenceSession,
  model: LoadedModel,
  ids: readonly number[],
  options: AnalyzeOptions,
): Promise<RopeliteRanking> {
  const { strategy, windows, windowLength, pairs, seed } = options;
  if (!(rankingStrategies as readonly string[]).includes(strategy)) {
    throw new InvalidArgumentError(`strategy must be one of ${rankingStrategies.join(", ")}, got ${String(strategy)}`, {
      field: "strategy",
    });
  }
  requireCount(windows, "windows", 1);
  requireCount(windowLength, "windowLength", 1);
  requireCount(pairs, "pairs", 1);
  requireSeed(seed);
  const captureBudgetBytes = options.captureBudgetBytes ?? defaultCaptureBudgetBytes;
  if (!(captureBudgetBytes > 0)) {
    throw new InvalidArgumentError(`captureBudgetBytes must be a positive number of bytes, got ${String(captureBudgetBytes)}`, {
      field: "captureBudgetBytes",
    });
  }
  requireMatchingModel(session, model);

  const onProgress = options.onProgress ?? silentProgress;
  const config = model.config;
  const started = Date.now();
  onProgress({ type: "start", task: progressTask, total: config.numLayers, unit: "layers", message: strategy });

  const needsCapture = strategy === "ropelite" || strategy === "contribution";
  const calibrationWindows = needsCapture ? sampleCalibrationWindows(ids, { windows, length: windowLength, seed }) : [];
  const causalPairs = needsCapture ? sampleCausalPairs(windows, windowLength, pairs, seed) : [];

  const layers: LayerRanking[] = [];
  const rankHeads = (terms: ChunkTerms | undefined): HeadRanking => {
    if (strategy !== "ropelite") return baselineHeadRanking(strategy, config.headDim / 2, terms);
    if (terms === undefined) throw new InvalidArgumentError("the ropelite ranking needs chunk terms from calibration", { field: "terms" });
    return greedyRanking(terms);
  };

  if (needsCapture) {
    const bytesPerLayer = windows * windowLength * (config.numHeads + config.numKvHeads) * config.headDim * 4;
    for (const group of captureLayerGroups(config.numLayers, bytesPerLayer, captureBudgetBytes)) {
      const captures = await captureLayers(session, calibrationWindows, group);
      for (let slot = 0; slot < group.length; slot++) {
        const capture = captures[slot];
        const kvHeads: HeadRanking[] = [];
        for (let kvHead = 0; kvHead < config.numKvHeads; kvHead++) {
          kvHeads.push(rankHeads(computeChunkTerms({ config, query: capture.query, key: capture.key, pairs: causalPairs }, kvHead)));
        }
        layers.push({ kvHeads });
        // Drop the capture as soon as its layer is ranked, so the group's memory shrinks as it goes.
        capture.query.length = 0;
        capture.key.length = 0;
        onProgress({ type: "advance", task: progressTask, current: layers.length, total: config.numLayers, unit: "layers" });
      }
    }
  } else {
    for (let layer = 0; layer < config.numLayers; layer++) {
      const kvHeads: HeadRanking[] = [];
      for (let kvHead = 0; kvHead < config.numKvHeads; kvHead++) kvHeads.push(rankHeads(undefined));
      layers.push({ kvHeads });
      onProgress({ type: "advance", task: progressTask, current: layer + 1, total: config.numLayers, unit: "layers" });
    }
  }

  const fingerprint = options.fingerprint ?? (await fingerprintModelFiles(model.source.files));
  onProgress({ type: "end", task: progressTask, seconds: (Date.now() - started) / 1000 });

  return {
    schemaVersion: 1,
    model: {
      fingerprint,
      layers: config.numLayers,
      numHeads: config.numHeads,
      numKvHeads: config.numKvHeads,
      headDim: config.headDim,
    },
    strategy,
    calibration: { text: options.text ?? "", tokens: ids.length, windows, windowLength, pairs, seed },
    layers,
  };
}

/** Rejects a converted model and a session that runs a different architecture than `model`. */
function requireMatchingModel(session: InferenceSession, model: LoadedModel): void {
  if (model.elite !== undefined) {
    throw new InvalidArgumentError(
      `${model.source.path} is already converted to EliteKV; rank the chunks of the base model instead`,
      { field: "model" },
    );
  }

  const fields = ["numLayers", "numHeads", "numKvHeads", "headDim"] as const;
  for (const field of fields) {
    if (session.config[field] !== model.config[field]) {
      throw new InvalidArgumentError(
        `the session has ${field} ${session.config[field]} but the model has ${model.config[field]}. ` +
          "Create the session from the same model.",
        { field: `session.config.${field}` },
      );
    }
  }
}
