// End-to-end recovery of a converted model by distillation. Adam trains every layer's attention weights
// to minimise KL(base ‖ converted) of the next-token distributions (through the soft cross-entropy),
// one calibration window per step in a seeded shuffled order. The base model runs on a
// backend session to give the targets of each window; the converted model's forward and backward pass
// run in jax-js. The KL on the calibration windows is measured before and after.
import {
  createRandom,
  eliteWeightNames,
  InvalidArgumentError,
  MapWeightStore,
  silentProgress,
  weightNames,
  type Backend,
  type InferenceSession,
  type LoadedModel,
  type ProgressListener,
  type Tensor,
} from "@elitekv/core";

import { AdamOptimizer, shuffledIndices } from "./adam-optimizer.js";
import { attentionParameterNames, type EliteAttentionParameters } from "./attention-gradient.js";
import { calibrationWindows } from "./calibration-windows.js";
import { checkRecoveryModels } from "./converted-checkpoint.js";
import type { DistillationLossGradient, DistillationWindow } from "./distillation-gradient.js";
import { createJaxDistillationGradient } from "./jax-distillation-gradient.js";

export interface DistillationRecoveryOptions {
  /** Calibration ids: one tokenized text that starts with BOS. */
  ids: readonly number[];
  /** Ids per calibration window; the final partial window is dropped. */
  seqLen: number;
  /** Runs the base model to give the target distributions. The caller disposes it. */
  backend: Backend;
  threads?: number;
  /** Adam steps, one window each. */
  steps: number;
  /** Adam learning rate. Defaults to 1e-4. */
  learningRate?: number;
  /** Seed of the window order. Defaults to 0. */
  seed?: number;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface DistillationRecoveryResult {
  /** Every weight of the recovered model; tensors that did not change are shared with the input model. */
  weights: MapWeightStore;
  /** Calibration ids trained on: windows × seqLen. */
  tokens: number;
  windows: number;
  steps: number;
  learningRate: number;
  /** Mean KL(base ‖ converted) per position on the calibration windows, in nats, before the steps. */
  klBefore: number;
  /** Mean KL after the steps, whether or not they were kept. */
  klAfter: number;
  /** False when the steps raised the calibration KL, so `weights` are those from before the steps. */
  kept: boolean;
}

export const defaultDistillationLearningRate = 1e-4;
const task = "distill";

/**
 * Distills the base model into the converted `model`'s attention weights. Throws InvalidArgumentError
 * when `model` is not converted, `base` is, their shapes differ, steps is negative or the calibration ids
 * do not fill one window.
 */
export async function recoverByDistillation(
  base: LoadedModel,
  model: LoadedModel,
  options: DistillationRecoveryOptions,
): Promise<DistillationRecoveryResult> {
  checkRecoveryModels(base, model);
  const steps = options.steps;
  if (!Number.isSafeInteger(steps) || steps < 0) {
    throw new InvalidArgumentError(`steps must be a non-negative integer, got ${steps}`, { field: "steps" });
  }
  const learningRate = options.learningRate ?? defaultDistillationLearningRate;
  const onProgress = options.onProgress ?? silentProgress;
  const windows = calibrationWindows(options.ids, options.seqLen, model.config.maxPositionEmbeddings);
  const tokens = windows.length * options.seqLen;

  const parameters = readAttentionParameters(model);
  const optimizer = new AdamOptimizer(
    parameters.flatMap((layer) => attentionParameterNames.map((name) => layer[name])),
    learningRate,
  );

  // NOTE: an interrupted distillation starts again from step 1. Only the layer-wise fit keeps finished
  // work (its layers) in a partial folder, so `--method both` resumes at the start of the distillation.
  const gradient = await createJaxDistillationGradient(model, options.seqLen);
  const session = await options.backend.createSession(base, { maxContext: options.seqLen, threads: options.threads });
  try {
    const targets = new WindowTargets(session, base, model);

    const klBefore = await meanKl(gradient, parameters, windows, targets, "KL before", onProgress, options.signal);

    const random = createRandom(options.seed ?? 0);
    let order: number[] = [];
    onProgress({ type: "start", task, total: steps, unit: "steps", message: `${windows.length} windows of ${options.seqLen} tokens` });
    const started = performance.now();
    for (let step = 1; step <= steps; step++) {
      options.signal?.throwIfAborted();
      if (order.length === 0) order = shuffledIndices(windows.length, random.next.bind(random));
      const stepStarted = performance.now();

      const { window, entropy } = await targets.window(windows[order.pop()!]);
      const result = await gradient.lossAndGradient(parameters, window);
      optimizer.step(result.gradient.flatMap((layer) => attentionParameterNames.map((name) => layer[name])));

      const kl = result.loss - entropy;
      const tokensPerSecond = options.seqLen / ((performance.now() - stepStarted) / 1000);
      onProgress({ type: "advance", task, current: step, total: steps, unit: "steps", message: `KL ${kl.toFixed(4)}`, metrics: { kl, tokensPerSecond } });
    }
    onProgress({ type: "end", task, seconds: (performance.now() - started) / 1000 });

    const klAfter = steps === 0 ? klBefore : await meanKl(gradient, parameters, windows, targets, "KL after", onProgress, options.signal);

    // Adam's first steps move every weight by about the learning rate, which can leave a good
    // conversion worse than it started. The steps are kept only when they lowered the calibration KL.
    const improved = klAfter < klBefore;
    if (!improved && steps > 0) {
      onProgress({ type: "info", task, message: `KL rose from ${klBefore.toFixed(4)} to ${klAfter.toFixed(4)}; keeping the weights from before the steps` });
    }
    const weights = writeAttentionParameters(model, improved ? parameters : []);
    return { weights, tokens, windows: windows.length, steps, learningRate, klBefore, klAfter, kept: improved || steps === 0 };
  } finally {
    gradient.dispose();
    await session.dispose();
  }
}

/** The base model's targets of a window, and the window's embeddings under the converted model. */
class WindowTargets {
  private readonly session: InferenceSession;
  private readonly embedding: Tensor;
  private readonly hiddenSize: number;
  private readonly vocabSize: number;

  constructor(session: InferenceSession, base: LoadedModel, model: LoadedModel) {
    this.session = session;
    this.embedding = model.weights.get(weightNames.tokenEmbedding);
    this.hiddenSize = base.config.hiddenSize;
    this.vocabSize = base.config.vocabSize;
  }

  /** Returns the window's distillation inputs and the mean entropy of the base distributions, in nats. */
  async window(ids: readonly number[]): Promise<{ window: DistillationWindow; entropy: number }> {
    const { hiddenSize, vocabSize } = this;
    const embeddings = new Float32Array(ids.length * hiddenSize);
    ids.forEach((id, t) => embeddings.set(this.embedding.data.subarray(id * hiddenSize, (id + 1) * hiddenSize), t * hiddenSize));

    this.session.reset();
    const logits = await this.session.prefill(ids, { logits: "all" });
    const targets = new Float32Array(ids.length * vocabSize);
    let entropy = 0;
    for (let t = 0; t < ids.length; t++) {
      const row = logits.data.subarray(t * vocabSize, (t + 1) * vocabSize);
      entropy += softmaxInto(row, targets, t * vocabSize);
    }
    return { window: { embeddings, targets }, entropy: entropy / ids.length };
  }
}

/** Writes softmax(`logits`) into `out` from `offset`, in float64 until the store, and returns its entropy. */
function softmaxInto(logits: ArrayLike<number>, out: Float32Array, offset: number): number {
  let max = -Infinity;
  for (let v = 0; v < logits.length; v++) max = Math.max(max, logits[v]);
  let sum = 0;
  for (let v = 0; v < logits.length; v++) sum += Math.exp(logits[v] - max);
  const logSum = Math.log(sum);
  let entropy = 0;
  for (let v = 0; v < logits.length; v++) {
    const logProbability = logits[v] - max - logSum;
    const probability = Math.exp(logProbability);
    out[offset + v] = probability;
    if (probability > 0) entropy -= probability * logProbability;
  }
  return entropy;
}

async function meanKl(
  gradient: DistillationLossGradient,
  parameters: readonly EliteAttentionParameters[],
  windows: readonly number[][],
  targets: WindowTargets,
  label: string,
  onProgress: ProgressListener,
  signal: AbortSignal | undefined,
): Promise<number> {
  const measureTask = `${task}: ${label}`;
  onProgress({ type: "start", task: measureTask, total: windows.length, unit: "windows" });
  let sum = 0;
  for (let w = 0; w < windows.length; w++) {
    signal?.throwIfAborted();
    const { window, entropy } = await targets.window(windows[w]);
    sum += (await gradient.loss(parameters, window)) - entropy;
    onProgress({ type: "advance", task: measureTask, current: w + 1, total: windows.length, unit: "windows" });
  }
  onProgress({ type: "end", task: measureTask });
  return sum / windows.length;
}

/** Reads every layer's attention weights as float32 copies in their stored [out, in] layouts. */
function readAttentionParameters(model: LoadedModel): EliteAttentionParameters[] {
  return Array.from({ length: model.config.numLayers }, (_, layer) => {
    const names = attentionWeightNames(layer);
    const parameters = {} as EliteAttentionParameters;
    for (const name of attentionParameterNames) parameters[name] = Float32Array.from(model.weights.get(names[name]).data);
    return parameters;
  });
}

/** Returns every weight of `model` with the attention tensors of `parameters`; an empty list keeps the model's own. */
function writeAttentionParameters(model: LoadedModel, parameters: readonly EliteAttentionParameters[]): MapWeightStore {
  const weights = new MapWeightStore(new Map(model.weights.names().map((name) => [name, model.weights.get(name)])), "recovered weights");
  parameters.forEach((layerParameters, layer) => {
    const names = attentionWeightNames(layer);
    for (const name of attentionParameterNames) {
      const shape = model.weights.get(names[name]).shape;
      weights.set(names[name], { shape: [...shape], data: layerParameters[name] });
    }
  });
  return weights;
}

/** Returns the canonical weight name of each attention parameter of `layer`. */
export function attentionWeightNames(layer: number): Record<keyof EliteAttentionParameters, string> {
  return {
    query: weightNames.queryProjection(layer),
    ropeKey: eliteWeightNames.ropeKeyProjection(layer),
    latentDown: eliteWeightNames.latentDownProjection(layer),
    keyUp: eliteWeightNames.keyUpProjection(layer),
    valueUp: eliteWeightNames.valueUpProjection(layer),
    output: weightNames.outputProjection(layer),
  };
}
