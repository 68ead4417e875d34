// The demo pipeline: fetch SmolLM2, rank its chunks on State of the Union text, convert it to a 25%
// cache with the activation-aware SVD, then compare it with the base model and sample both.
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";

import type { ProgressListener } from "@elitekv/core";
import { fetchPinnedModel, loadModel, resolveCacheDir } from "@elitekv/models";
import { writeRanking } from "@elitekv/ropelite";

import { compareCheckpoint, type CheckpointComparison } from "./compare-checkpoint.js";
import { convertCheckpoint, type ConvertedCheckpoint } from "./convert-checkpoint.js";
import { greedySample, samplePromptIds, type GreedySample } from "./greedy-generation.js";
import { rankChunks } from "./rank-chunks.js";
import { loadTextIds } from "./text-ids.js";
import type { BackendName } from "../model/with-session.js";

/** Sizes of one demo run. The calibration and evaluation texts are disjoint year ranges. */
export interface DemoPlan {
  analysisText: string;
  analysisTokens: number;
  seqLen: number;
  pairs: number;
  covarianceText: string;
  covarianceTokens: number;
  ratio: number;
  /** Multiples of the ratio rule's r that the allocation search tries. */
  allocationMultiples: readonly number[];
  evalText: string;
  evalWindow: number;
  evalWindows: number;
  prompt: string;
  maxNewTokens: number;
}

// Sizes for the default ORT backend, which prefills SmolLM2 at a few hundred tokens/s on 2 cores
// (docs/benchmarks.md). The analysis captures every layer in one pass over its windows.
// NOTE: with --backend cpu (about 14 tokens/s) the same plan takes over half an hour.
export const fullDemoPlan: DemoPlan = {
  analysisText: "sotu:1990-2018",
  analysisTokens: 4096,
  seqLen: 256,
  pairs: 2000,
  covarianceText: "sotu:1970-1989",
  covarianceTokens: 4096,
  ratio: 0.25,
  // Three splits instead of the converter's five keep the search to about two minutes on ORT.
  allocationMultiples: [1, 2, 3],
  evalText: "sotu:2019-2021",
  evalWindow: 512,
  evalWindows: 4,
  prompt: "What is the capital of France?",
  maxNewTokens: 32,
};

/** Sizes for tests on a tiny model: a few windows of 64 tokens and 8 generated tokens. */
export const quickDemoPlan: DemoPlan = {
  ...fullDemoPlan,
  analysisTokens: 128,
  seqLen: 64,
  pairs: 200,
  covarianceTokens: 128,
  evalWindow: 64,
  evalWindows: 2,
  maxNewTokens: 8,
};

export interface DemoRequest {
  plan: DemoPlan;
  cacheDir?: string;
  /** Folder for ranking.json and the checkpoint. Defaults to <cacheDir>/demo. */
  workDir?: string;
  /** Model path instead of the fetched SmolLM2, for tests on tiny models. */
  model?: string;
  backend?: BackendName;
  threads?: number;
}

export interface DemoResult {
  model: string;
  workDir: string;
  ranking: string;
  checkpoint: ConvertedCheckpoint;
  comparison: CheckpointComparison;
  samples: { prompt: string; base: GreedySample; model: GreedySample };
  seconds: number;
}

/** Runs every demo step, reporting each through `onProgress`. */
export async function runDemo(request: DemoRequest, onProgress: ProgressListener): Promise<DemoResult> {
  const started = Date.now();
  const { plan } = request;
  const cacheDir = resolveCacheDir(request.cacheDir);
  const workDir = resolve(request.workDir ?? join(cacheDir, "demo"));
  await mkdir(workDir, { recursive: true });

  onProgress({ type: "info", task: "demo", message: `step 1/5: load the base model` });
  const modelPath = request.model ?? (await fetchPinnedModel("smollm2", { cacheDir, onProgress })).path;
  const base = await loadModel(modelPath, { onProgress });

  onProgress({ type: "info", task: "demo", message: `step 2/5: rank the RoPE chunks on ${plan.analysisText}` });
  const analysis = await loadTextIds(plan.analysisText, base, { maxTokens: plan.analysisTokens }, onProgress);
  const ranking = await rankChunks(
    base,
    analysis.ids,
    { strategy: "ropelite", seqLen: plan.seqLen, pairs: plan.pairs, seed: 0, textLabel: analysis.description, backend: request.backend, threads: request.threads },
    onProgress,
  );
  const rankingPath = join(workDir, "ranking.json");
  await writeRanking(rankingPath, ranking);

  onProgress({ type: "info", task: "demo", message: `step 3/5: convert to a ${plan.ratio} cache with covariances of ${plan.covarianceText}` });
  const covariance = await loadTextIds(plan.covarianceText, base, { maxTokens: plan.covarianceTokens }, onProgress);
  const checkpoint = await convertCheckpoint(
    base,
    {
      ranking,
      rankingPath,
      target: { ratio: plan.ratio },
      svd: "activation",
      calibrationIds: covariance.ids,
      calibrationLabel: covariance.description,
      allocation: "search",
      allocationMultiples: plan.allocationMultiples,
      dtype: "f32",
      overwrite: true,
      out: join(workDir, `elitekv-${Math.round(plan.ratio * 100)}`),
      backend: request.backend,
      threads: request.threads,
    },
    onProgress,
  );
  const converted = await loadModel(checkpoint.out, { onProgress });

  onProgress({ type: "info", task: "demo", message: `step 4/5: compare both models on ${plan.evalText}` });
  const evaluation = await loadTextIds(plan.evalText, base, { maxTokens: plan.evalWindow * plan.evalWindows }, onProgress);
  const comparison = await compareCheckpoint(base, converted, evaluation.ids, { window: plan.evalWindow, backend: request.backend, threads: request.threads }, onProgress);

  onProgress({ type: "info", task: "demo", message: `step 5/5: greedy generation of ${plan.maxNewTokens} tokens from each model` });
  // Both models get the ids rendered by the base tokenizer, so the samples start from the same prompt.
  const promptIds = samplePromptIds(base, plan.prompt);
  const baseSample = await greedySample(base, promptIds, plan.maxNewTokens, request.threads, request.backend);
  const modelSample = await greedySample(converted, promptIds, plan.maxNewTokens, request.threads, request.backend);

  return {
    model: modelPath,
    workDir,
    ranking: rankingPath,
    checkpoint,
    comparison,
    samples: { prompt: plan.prompt, base: baseSample, model: modelSample },
    seconds: (Date.now() - started) / 1000,
  };
}
