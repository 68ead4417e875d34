// Layer-wise recovery of a converted model. Layers are fitted in order. For layer l the converted model,
// with layers < l already recovered, runs the calibration windows and its normalised attention inputs
// X_l are captured. The target is the base model's attention block output (after its o_proj) on the
// same X_l. This is function matching: every layer learns to reproduce the base layer on the inputs it
// receives at inference, and the fit does not try to undo the errors of earlier layers.
//
// The fit keeps the converted attention probabilities and solves the value path (wo, then alternating
// w_uv and wo) by exact least squares. With gradient steps, Adam then moves every attention weight,
// the parts inside the softmax included, and the value path is solved again for the new probabilities.
// That result is kept only when its calibration loss is lower. Finished layers are written to a
// partial folder, so an interrupted run resumes where it stopped.
import {
  BackendFailureError,
  buildRopeTable,
  createMatrix,
  eliteWeightNames,
  InvalidArgumentError,
  MapWeightStore,
  referenceMatmul,
  silentProgress,
  transpose,
  weightNames,
  type Backend,
  type EliteLayerConfig,
  type InferenceSession,
  type LoadedModel,
  type MatmulProvider,
  type Matrix,
  type ModelConfig,
  type ProgressListener,
  type RopeTable,
  type Tensor,
} from "@elitekv/core";

import { adamRefit, type AdamRefitOptions } from "./adam-refit.js";
import type { EliteAttentionParameters } from "./attention-gradient.js";
import { baseAttentionOutput } from "./base-attention.js";
import { calibrationWindows } from "./calibration-windows.js";
import { checkRecoveryModels } from "./converted-checkpoint.js";
import { eliteAttendedLatents } from "./elite-attention.js";
import { fitValuePath } from "./fit-value-path.js";
import { createJaxAttentionGradient } from "./jax-attention-gradient.js";
import { baseAttentionWeights, eliteAttentionWeights, matrixToTensor, type EliteAttentionWeights } from "./layer-weights.js";
import { PartialRecoveryFolder } from "./partial-recovery-folder.js";
import { recoveryFingerprint } from "./recovery-fingerprint.js";
import { accumulateValuePathStatistics, createValuePathStatistics } from "./value-path-statistics.js";

export interface LayerwiseRecoveryOptions {
  /** Calibration ids: one tokenized text that starts with BOS. */
  ids: readonly number[];
  /** Ids per calibration window; the final partial window is dropped. */
  seqLen: number;
  /** Runs the converted model to capture the attention inputs. The caller disposes it. */
  backend: Backend;
  threads?: number;
  /** Runs the float64 products; defaults to the TypeScript reference. */
  matmul?: MatmulProvider;
  /** Relative ridge of the least-squares steps. Defaults to 1e-6. */
  ridge?: number;
  /** Alternating w_uv/wo rounds after the first wo fit. Defaults to 1. */
  rounds?: number;
  /** Adam steps per layer on all attention weights after the least-squares fit. Defaults to 0. */
  steps?: number;
  /** Adam learning rate. Defaults to 1e-3. */
  learningRate?: number;
  /** Seed of the window order of the gradient steps. Defaults to 0. */
  seed?: number;
  /** Folder for finished layers; a rerun with the same folder and settings skips them. */
  partialDir?: string;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface LayerRecoveryRecord {
  layer: number;
  /** ‖Y − Ŷ‖²_F / ‖Y‖²_F on the calibration windows before the fit. */
  lossBefore: number;
  lossAfter: number;
  /** True when the layer was read from the partial folder instead of fitted. */
  resumed: boolean;
  /** Calibration tokens per second of this layer's capture and fit; 0 for a resumed layer. */
  tokensPerSecond: number;
}

export interface LayerwiseRecoveryResult {
  /** Every weight of the recovered model; tensors that did not change are shared with the input model. */
  weights: MapWeightStore;
  layers: LayerRecoveryRecord[];
  /** Calibration ids fitted on: windows × seqLen. */
  tokens: number;
  windows: number;
}

export const defaultRidge = 1e-6;
export const defaultRounds = 1;
export const defaultLearningRate = 1e-3;
const task = "recover";

/**
 * Recovers the converted `model` against its `base`. Throws InvalidArgumentError when `model` is not
 * converted, `base` is, their shapes differ, or the calibration ids do not fill one window.
 */
export async function recoverLayerwise(
  base: LoadedModel,
  model: LoadedModel,
  options: LayerwiseRecoveryOptions,
): Promise<LayerwiseRecoveryResult> {
  checkRecoveryModels(base, model);
  const elite = model.elite!;
  const config = model.config;
  const ridge = options.ridge ?? defaultRidge;
  const rounds = options.rounds ?? defaultRounds;
  if (!Number.isSafeInteger(rounds) || rounds < 0) {
    throw new InvalidArgumentError(`rounds must be a non-negative integer, got ${rounds}`, { field: "rounds" });
  }
  const steps = options.steps ?? 0;
  if (!Number.isSafeInteger(steps) || steps < 0) {
    throw new InvalidArgumentError(`steps must be a non-negative integer, got ${steps}`, { field: "steps" });
  }
  const learningRate = options.learningRate ?? defaultLearningRate;
  const seed = options.seed ?? 0;
  const matmul = options.matmul ?? referenceMatmul;
  const onProgress = options.onProgress ?? silentProgress;
  const windows = calibrationWindows(options.ids, options.seqLen, config.maxPositionEmbeddings);
  const tokens = windows.length * options.seqLen;
  const table = buildRopeTable(config, options.seqLen);

  const weights = new MapWeightStore(new Map(model.weights.names().map((name) => [name, model.weights.get(name)])), "recovered weights");
  const layers: LayerRecoveryRecord[] = [];

  let partial: PartialRecoveryFolder | undefined;
  if (options.partialDir !== undefined) {
    const fingerprint = recoveryFingerprint(base, model, windows.flat(), {
      method: "layerwise",
      seqLen: options.seqLen,
      ridge,
      rounds,
      steps,
      learningRate,
      seed,
    });
    partial = await PartialRecoveryFolder.open(options.partialDir, fingerprint);
    for (const finished of partial.finishedLayers()) {
      for (const [name, tensor] of await partial.readLayer(finished.layer)) weights.set(name, tensor);
      layers.push({ ...finished, resumed: true, tokensPerSecond: 0 });
    }
    if (layers.length > 0) {
      onProgress({ type: "info", task, message: `resuming: layers 0..${layers.length - 1} read from ${partial.dir}` });
    }
  }

  const started = Date.now();
  onProgress({ type: "start", task, total: config.numLayers, unit: "layers", message: `${windows.length} windows of ${options.seqLen} tokens` });
  for (let layer = layers.length; layer < config.numLayers; layer++) {
    options.signal?.throwIfAborted();
    const layerStarted = performance.now();

    const baseWeights = baseAttentionWeights(base.weights, layer);
    const inputs: Matrix[] = [];
    const session = await options.backend.createSession({ ...model, weights }, { maxContext: options.seqLen, threads: options.threads });
    try {
      for (const window of windows) {
        options.signal?.throwIfAborted();
        inputs.push(await captureAttentionInputs(session, window, layer, config.hiddenSize));
      }
    } finally {
      await session.dispose();
    }
    const targets: Matrix[] = [];
    for (const x of inputs) targets.push(await baseAttentionOutput(config, baseWeights, x, table, matmul));

    const context: LayerFitContext = { config, layer: elite.layers[layer], table, matmul, ridge, rounds, inputs, targets };
    let fit = await fitLayerByLeastSquares(context, eliteAttentionWeights(weights, layer));
    if (steps > 0) {
      const refit = await fitLayerByGradient(context, fit, { steps, learningRate, seed: seed + layer, task: `layer ${layer} gradient steps`, onProgress, signal: options.signal });
      if (refit.lossAfter < fit.lossAfter) fit = { ...refit, lossBefore: fit.lossBefore };
    }

    const changed = layerTensors(layer, fit.weights);
    for (const [name, tensor] of changed) weights.set(name, tensor);
    await partial?.writeLayer({ layer, lossBefore: fit.lossBefore, lossAfter: fit.lossAfter }, changed);

    const seconds = (performance.now() - layerStarted) / 1000;
    const record = { layer, lossBefore: fit.lossBefore, lossAfter: fit.lossAfter, resumed: false, tokensPerSecond: tokens / seconds };
    layers.push(record);
    onProgress({
      type: "advance",
      task,
      current: layer + 1,
      total: config.numLayers,
      unit: "layers",
      message: `layer ${layer}: loss ${fit.lossBefore.toPrecision(4)} -> ${fit.lossAfter.toPrecision(4)}`,
      metrics: { lossBefore: fit.lossBefore, lossAfter: fit.lossAfter, tokensPerSecond: record.tokensPerSecond },
    });
  }
  onProgress({ type: "end", task, seconds: (Date.now() - started) / 1000 });

  return { weights, layers, tokens, windows: windows.length };
}

/** Everything the fits of one layer need: its config, the captured inputs and the base targets. */
interface LayerFitContext {
  config: ModelConfig;
  layer: EliteLayerConfig;
  table: RopeTable;
  matmul: MatmulProvider;
  ridge: number;
  rounds: number;
  inputs: Matrix[];
  targets: Matrix[];
}

interface LayerFit {
  weights: EliteAttentionWeights;
  lossBefore: number;
  lossAfter: number;
}

/** Solves the value path of the layer with its attention probabilities fixed. */
async function fitLayerByLeastSquares(context: LayerFitContext, weights: EliteAttentionWeights): Promise<LayerFit> {
  const { config, layer, table, matmul } = context;
  const statistics = createValuePathStatistics(config.numHeads * layer.latentDim, config.hiddenSize);
  for (let w = 0; w < context.inputs.length; w++) {
    const attended = await eliteAttendedLatents(config, layer, weights, context.inputs[w], table, matmul);
    await accumulateValuePathStatistics(statistics, attended, context.targets[w], matmul);
  }
  const fit = await fitValuePath(config, statistics, { valueUp: weights.valueUp, output: weights.output }, context);
  return { weights: { ...weights, valueUp: fit.valueUp, output: fit.output }, lossBefore: fit.lossBefore, lossAfter: fit.lossAfter };
}

/** Runs Adam on every attention weight from the least-squares fit, then solves the value path again. */
async function fitLayerByGradient(context: LayerFitContext, start: LayerFit, options: AdamRefitOptions): Promise<LayerFit> {
  const gradient = await createJaxAttentionGradient(context.config, context.layer, context.inputs[0].rows);
  const windows = context.inputs.map((x, w) => ({ inputs: Float32Array.from(x.data), target: Float32Array.from(context.targets[w].data) }));
  const stepped = await adamRefit(gradient, attentionParameters(start.weights), windows, options);
  return fitLayerByLeastSquares(context, attentionWeightsOf(stepped, start.weights));
}

/** Prefills one window from position 0 and returns the captured attention inputs of `layer` [tokens, hidden]. */
async function captureAttentionInputs(
  session: InferenceSession,
  window: readonly number[],
  layer: number,
  hidden: number,
): Promise<Matrix> {
  const inputs = createMatrix(window.length, hidden);
  let captured = 0;
  session.reset();
  await session.prefill(window, {
    capture: {
      layers: [layer],
      attentionInput: true,
      onCapture: (event) => {
        if (event.layer !== layer || event.attentionInput === undefined) return;
        inputs.data.set(event.attentionInput, event.startPosition * hidden);
        captured += event.tokens;
      },
    },
  });
  if (captured !== window.length) {
    throw new BackendFailureError(
      `the backend captured ${captured} of ${window.length} attention inputs of layer ${layer}; recovery needs a backend that captures attentionInput`,
      { field: "capture.attentionInput" },
    );
  }
  return inputs;
}

function attentionParameters(weights: EliteAttentionWeights): EliteAttentionParameters {
  return {
    query: Float32Array.from(transpose(weights.queryT).data),
    ropeKey: Float32Array.from(transpose(weights.ropeKeyT).data),
    latentDown: Float32Array.from(transpose(weights.latentDownT).data),
    keyUp: Float32Array.from(weights.keyUp.data),
    valueUp: Float32Array.from(weights.valueUp.data),
    output: Float32Array.from(weights.output.data),
  };
}

/** Returns the weights of `parameters` in the orientations of `like`. */
function attentionWeightsOf(parameters: EliteAttentionParameters, like: EliteAttentionWeights): EliteAttentionWeights {
  const matrix = (rows: number, cols: number, data: Float32Array) => createMatrix(rows, cols, data);
  return {
    queryT: transpose(matrix(like.queryT.cols, like.queryT.rows, parameters.query)),
    ropeKeyT: transpose(matrix(like.ropeKeyT.cols, like.ropeKeyT.rows, parameters.ropeKey)),
    latentDownT: transpose(matrix(like.latentDownT.cols, like.latentDownT.rows, parameters.latentDown)),
    keyUp: matrix(like.keyUp.rows, like.keyUp.cols, parameters.keyUp),
    valueUp: matrix(like.valueUp.rows, like.valueUp.cols, parameters.valueUp),
    output: matrix(like.output.rows, like.output.cols, parameters.output),
  };
}

/** Returns the converted layer's tensors under their canonical names, float32 [out, in]. */
function layerTensors(layer: number, weights: EliteAttentionWeights): Map<string, Tensor> {
  return new Map<string, Tensor>([
    [weightNames.queryProjection(layer), matrixToTensor(transpose(weights.queryT))],
    [eliteWeightNames.ropeKeyProjection(layer), matrixToTensor(transpose(weights.ropeKeyT))],
    [eliteWeightNames.latentDownProjection(layer), matrixToTensor(transpose(weights.latentDownT))],
    [eliteWeightNames.keyUpProjection(layer), matrixToTensor(weights.keyUp)],
    [eliteWeightNames.valueUpProjection(layer), matrixToTensor(weights.valueUp)],
    [weightNames.outputProjection(layer), matrixToTensor(weights.output)],
  ]);
}
