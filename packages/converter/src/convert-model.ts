// Conversion of a loaded model to EliteKV: per layer the q/k split by the elite chunks, then J-LRD of
// the nope keys and values into one latent. Norms, FFN, embeddings, wq and wo are carried over unchanged.
import {
  createMatrix,
  eliteWeightNames,
  InvalidArgumentError,
  MapWeightStore,
  referenceMatmul,
  silentProgress,
  subtract,
  transpose,
  validateEliteKvConfig,
  weightNames,
  type EliteKvConfig,
  type LoadedModel,
  type Matrix,
  type MatmulProvider,
  type ProgressListener,
  type Tensor,
  type WeightStore,
} from "@elitekv/core";

import { selectEliteChunks, type ChunkRanking } from "./elite-chunk-selection.js";
import { decomposeJointLowRank, type SvdMode } from "./joint-low-rank-decomposition.js";
import { allocateLatentDims, jointEnergySpectrum, type LatentAllocation } from "./latent-allocation.js";
import { resolveTarget, type ConversionTarget } from "./resolve-target.js";
import { jointKeyValueMatrix, ropeKeyRows } from "./split-key-projection.js";

export interface ConvertOptions {
  svd: SvdMode;
  /**
   * Per layer Xᵀ X of the attention inputs (D × D). Required for svd "activation"; with svd "weight" they
   * only add the activation error to the report.
   */
  covariances?: Matrix[];
  matmul?: MatmulProvider;
  /**
   * Split of the latent budget of layers · d_c over the layers. "uniform" (the default) gives every layer
   * d_c. "spectrum" follows the energy spectra of the joint key/value matrices (latent-allocation.ts).
   */
  latentAllocation?: LatentAllocation;
  onProgress?: ProgressListener;
}

/** Reconstruction error of one layer's latent against W_kv. */
export interface LayerReconstructionError {
  layer: number;
  /** ‖W_kv − A B‖_F / ‖W_kv‖_F. */
  weightRelativeError: number;
  /** ‖X (W_kv − A B)‖_F / ‖X W_kv‖_F, from the layer's covariance; present when covariances were given. */
  activationRelativeError?: number;
  /** Absolute damping added to the covariance diagonal; 0 for the weight SVD. */
  damping: number;
}

export interface ConvertedModel {
  /** Every weight of the converted model under its canonical name; wk and wv are replaced. */
  weights: WeightStore;
  elite: EliteKvConfig;
  /** Achieved cache ratio (2·G·r + d_c) / (2·G·h). */
  ratio: number;
  report: LayerReconstructionError[];
}

const task = "convert";

/**
 * Converts `model` to EliteKV at `target`. Elite chunks of KV head g are the first r entries of its
 * ranking. Throws InvalidArgumentError for an already converted model, a ranking that does not fit the
 * model, an infeasible target or missing covariances.
 */
export async function convertModel(
  model: LoadedModel,
  ranking: ChunkRanking,
  target: ConversionTarget,
  options: ConvertOptions,
): Promise<ConvertedModel> {
  const config = model.config;
  if (model.elite !== undefined) {
    throw new InvalidArgumentError("the model is already converted to EliteKV; convert its base model instead", { field: "model" });
  }
  const resolved = resolveTarget(config, target);
  const chunks = selectEliteChunks(config, ranking, resolved.ropeChunks);
  checkCovariances(options, config.numLayers, config.hiddenSize);

  const onProgress = options.onProgress ?? silentProgress;
  const started = Date.now();
  onProgress({ type: "start", task, total: config.numLayers, unit: "layers", message: `J-LRD with the ${options.svd} SVD` });

  const matmul = options.matmul ?? referenceMatmul;
  const latentDims = await layerLatentDims(model, chunks, resolved.latentDim, options);
  const converted = copyUnchangedWeights(model);
  const report: LayerReconstructionError[] = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    const key = model.weights.get(weightNames.keyProjection(layer));
    const value = model.weights.get(weightNames.valueProjection(layer));
    const covariance = options.covariances?.[layer];

    const joint = jointKeyValueMatrix(config, key, value, chunks[layer]);
    const factors = await decomposeJointLowRank(joint.matrix, latentDims[layer], {
      svd: options.svd,
      covariance,
      matmul: options.matmul,
    });

    // w_dkv = Aᵀ; w_uk and w_uv are the key and value columns of B, transposed to [out, in].
    const up = transpose(factors.up);
    converted.set(eliteWeightNames.ropeKeyProjection(layer), ropeKeyRows(config, key, chunks[layer]));
    converted.set(eliteWeightNames.latentDownProjection(layer), toTensor(transpose(factors.down)));
    converted.set(eliteWeightNames.keyUpProjection(layer), toTensor(sliceRows(up, 0, joint.keyColumns)));
    converted.set(eliteWeightNames.valueUpProjection(layer), toTensor(sliceRows(up, joint.keyColumns, up.rows)));

    const residual = subtract(joint.matrix, await matmul.multiply(factors.down, factors.up));
    const entry: LayerReconstructionError = {
      layer,
      weightRelativeError: relativeNorm(residual, joint.matrix),
      damping: factors.damping,
    };
    if (covariance !== undefined) {
      const reference = await quadraticTrace(matmul, covariance, joint.matrix);
      const remaining = await quadraticTrace(matmul, covariance, residual);
      entry.activationRelativeError = reference > 0 ? Math.sqrt(Math.max(0, remaining) / reference) : 0;
    }
    report.push(entry);

    onProgress({
      type: "advance",
      task,
      current: layer + 1,
      total: config.numLayers,
      unit: "layers",
      metrics: { weightRelativeError: entry.weightRelativeError },
    });
  }
  onProgress({ type: "end", task, seconds: (Date.now() - started) / 1000 });

  const elite = validateEliteKvConfig(config, {
    ropeChunksPerHead: resolved.ropeChunks,
    layers: chunks.map((layerChunks, layer) => ({ ropeChunks: layerChunks, latentDim: latentDims[layer] })),
  });
  return { weights: converted, elite, ratio: resolved.ratio, report };
}

/** Returns each layer's latent width: d_c everywhere, or the spectrum allocation of layers · d_c. */
async function layerLatentDims(model: LoadedModel, chunks: number[][][], latentDim: number, options: ConvertOptions): Promise<number[]> {
  const config = model.config;
  const allocation = options.latentAllocation ?? "uniform";
  if (allocation === "uniform") return new Array<number>(config.numLayers).fill(latentDim);
  if (allocation !== "spectrum") {
    throw new InvalidArgumentError(`latentAllocation must be "uniform" or "spectrum", got ${JSON.stringify(allocation)}`, { field: "latentAllocation" });
  }

  const onProgress = options.onProgress ?? silentProgress;
  onProgress({ type: "start", task: "latent spectra", total: config.numLayers, unit: "layers" });
  const spectra: Float64Array[] = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    const key = model.weights.get(weightNames.keyProjection(layer));
    const value = model.weights.get(weightNames.valueProjection(layer));
    const joint = jointKeyValueMatrix(config, key, value, chunks[layer]);
    spectra.push(await jointEnergySpectrum(joint.matrix, { svd: options.svd, covariance: options.covariances?.[layer], matmul: options.matmul }));
    onProgress({ type: "advance", task: "latent spectra", current: layer + 1, total: config.numLayers, unit: "layers" });
  }
  onProgress({ type: "end", task: "latent spectra" });

  // NOTE: the floor of a quarter of d_c per layer is a guard against starving a layer, not a tuned value.
  return allocateLatentDims(spectra, config.numLayers * latentDim, Math.ceil(latentDim / 4));
}

function checkCovariances(options: ConvertOptions, layers: number, hidden: number): void {
  const covariances = options.covariances;
  if (covariances === undefined && options.svd !== "activation") return;
  if (covariances === undefined || covariances.length !== layers) {
    throw new InvalidArgumentError(
      `activation-aware SVD needs one covariance per layer (${layers}), got ${covariances?.length ?? "none"}; ` +
        "collect Xᵀ X with accumulateCovariance from captured attention inputs",
      { field: "covariances" },
    );
  }
  covariances.forEach((covariance, layer) => {
    if (covariance.rows !== hidden || covariance.cols !== hidden) {
      throw new InvalidArgumentError(`covariance of layer ${layer} is ${covariance.rows}x${covariance.cols}, expected ${hidden}x${hidden}`, {
        field: `covariances[${layer}]`,
      });
    }
  });
}

/** Returns a store with every weight except the layers' wk and wv; tensors are shared, not copied. */
function copyUnchangedWeights(model: LoadedModel): MapWeightStore {
  const replaced = new Set<string>();
  for (let layer = 0; layer < model.config.numLayers; layer++) {
    replaced.add(weightNames.keyProjection(layer));
    replaced.add(weightNames.valueProjection(layer));
  }
  const tensors = new Map<string, Tensor>();
  for (const name of model.weights.names()) {
    if (!replaced.has(name)) tensors.set(name, model.weights.get(name));
  }
  return new MapWeightStore(tensors, "converted weights");
}

function sliceRows(matrix: Matrix, start: number, end: number): Matrix {
  return createMatrix(end - start, matrix.cols, matrix.data.subarray(start * matrix.cols, end * matrix.cols));
}

function toTensor(matrix: Matrix): Tensor {
  return { shape: [matrix.rows, matrix.cols], data: Float32Array.from(matrix.data) };
}

function relativeNorm(residual: Matrix, reference: Matrix): number {
  let residualSum = 0;
  let referenceSum = 0;
  for (let i = 0; i < residual.data.length; i++) residualSum += residual.data[i] ** 2;
  for (let i = 0; i < reference.data.length; i++) referenceSum += reference.data[i] ** 2;
  return referenceSum === 0 ? 0 : Math.sqrt(residualSum / referenceSum);
}

/** Returns trace(Mᵀ C M) = ‖X M‖_F² for C = Xᵀ X. */
async function quadraticTrace(matmul: MatmulProvider, covariance: Matrix, matrix: Matrix): Promise<number> {
  const product = await matmul.multiply(covariance, matrix);
  let trace = 0;
  for (let i = 0; i < matrix.data.length; i++) trace += matrix.data[i] * product.data[i];
  return trace;
}
