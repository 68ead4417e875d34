import {
  createMatrix,
  frobeniusNorm,
  multiply,
  subtract,
  transpose,
  type LoadedModel,
  type Matrix,
  weightNames,
} from "@elitekv/core";
import { loadModel, loadTextSource } from "@elitekv/models";
import { createCpuBackend } from "@elitekv/runtime-cpu";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { beforeAll, describe, expect, it } from "vitest";

import {
  accumulateCovariance,
  convertModel,
  decomposeJointLowRank,
  jointKeyValueMatrix,
  selectEliteChunks,
  type ChunkRanking,
} from "../src/index.js";

const calibrationTokens = 256;

/** Chunk order 0, 1, 2, 3 for every KV head. */
function ascendingRanking(layers: number, kvHeads: number, chunkCount: number): ChunkRanking {
  const ranking = Array.from({ length: chunkCount }, (_, index) => index);
  return { layers: Array.from({ length: layers }, () => ({ kvHeads: Array.from({ length: kvHeads }, () => ({ ranking: [...ranking] })) })) };
}

/** Runs the calibration text through stories260K and returns each layer's attention inputs [tokens, D]. */
async function captureAttentionInputs(model: LoadedModel): Promise<Matrix[]> {
  const { text } = await loadTextSource(sharedPath("data", "tinystories-valid-prefix", "tinystories_val.txt"), { maxChars: 4000 });
  const ids = model.tokenizer.encode(text, { addBos: true }).slice(0, calibrationTokens);
  const hidden = model.config.hiddenSize;
  const inputs: Matrix[] = [];
  for (let layer = 0; layer < model.config.numLayers; layer++) inputs.push(createMatrix(ids.length, hidden));

  const backend = createCpuBackend({ threads: 1 });
  const session = await backend.createSession(model, { maxContext: calibrationTokens });
  try {
    await session.prefill(ids, {
      capture: {
        attentionInput: true,
        onCapture: (event) => {
          if (event.attentionInput === undefined) throw new Error("the backend delivered no attention input");
          // The backend may deliver a prefill in several runs of positions.
          inputs[event.layer].data.set(event.attentionInput, event.startPosition * hidden);
        },
      },
    });
  } finally {
    await session.dispose();
    await backend.dispose();
  }
  return inputs;
}

describe.skipIf(!hasShared)("activation-aware J-LRD on stories260K", () => {
  let model: LoadedModel;
  let inputs: Matrix[];

  beforeAll(async () => {
    model = await loadModel(sharedPath("models", "stories260K", "stories260K.bin"));
    inputs = await captureAttentionInputs(model);
  });

  it("captures every position of every layer", () => {
    expect(inputs).toHaveLength(5);
    for (const x of inputs) {
      expect(x.rows).toBe(calibrationTokens);
      // RMS-normalised rows are never all zero, so an uncaptured position shows up as a zero row.
      for (let t = 0; t < x.rows; t++) expect(frobeniusNorm(createMatrix(1, x.cols, x.data.subarray(t * x.cols, (t + 1) * x.cols)))).toBeGreaterThan(0);
    }
  });

  it("accumulates Xᵀ X over batches", () => {
    const x = inputs[1];
    const split = 100;
    const first = Float32Array.from(x.data.subarray(0, split * x.cols));
    const second = Float32Array.from(x.data.subarray(split * x.cols));
    const covariance = accumulateCovariance(second, x.rows - split, x.cols, accumulateCovariance(first, split, x.cols));

    const xf32 = createMatrix(x.rows, x.cols, Float32Array.from(x.data));
    const expected = multiply(transpose(xf32), xf32);
    expect(frobeniusNorm(subtract(covariance, expected)) / frobeniusNorm(expected)).toBeLessThan(1e-12);
  });

  it("beats the weight SVD on activations", async () => {
    const { config } = model;
    const chunks = selectEliteChunks(config, ascendingRanking(5, 4, 4), 2);
    // d_c = 16 of the rank bound 48, so both fits leave a residual.
    const latentDim = 16;

    for (let layer = 0; layer < config.numLayers; layer++) {
      const x = inputs[layer];
      const joint = jointKeyValueMatrix(
        config,
        model.weights.get(weightNames.keyProjection(layer)),
        model.weights.get(weightNames.valueProjection(layer)),
        chunks[layer],
      );
      const covariance = accumulateCovariance(Float32Array.from(x.data), x.rows, x.cols);
      const byWeight = await decomposeJointLowRank(joint.matrix, latentDim, { svd: "weight" });
      const byActivation = await decomposeJointLowRank(joint.matrix, latentDim, { svd: "activation", covariance });

      const target = multiply(x, joint.matrix);
      const activationError = (factors: typeof byWeight) => frobeniusNorm(subtract(target, multiply(multiply(x, factors.down), factors.up)));
      const weightError = (factors: typeof byWeight) => frobeniusNorm(subtract(joint.matrix, multiply(factors.down, factors.up)));

      expect(activationError(byActivation)).toBeLessThan(activationError(byWeight));
      expect(weightError(byWeight)).toBeLessThan(weightError(byActivation));
    }
  });

  it("reports the activation error of each layer", async () => {
    const covariances = inputs.map((x) => accumulateCovariance(Float32Array.from(x.data), x.rows, x.cols));
    const ranking = ascendingRanking(5, 4, 4);
    const converted = await convertModel(model, ranking, { ropeChunks: 2, latentDim: 16 }, { svd: "activation", covariances });
    const chunks = selectEliteChunks(model.config, ranking, 2);

    for (let layer = 0; layer < 5; layer++) {
      const x = inputs[layer];
      const joint = jointKeyValueMatrix(
        model.config,
        model.weights.get(weightNames.keyProjection(layer)),
        model.weights.get(weightNames.valueProjection(layer)),
        chunks[layer],
      );
      const target = multiply(x, joint.matrix);
      const factors = await decomposeJointLowRank(joint.matrix, 16, { svd: "activation", covariance: covariances[layer] });
      const direct = frobeniusNorm(subtract(target, multiply(multiply(x, factors.down), factors.up))) / frobeniusNorm(target);

      expect(converted.report[layer].activationRelativeError).toBeCloseTo(direct, 6);
      expect(converted.report[layer].damping).toBeGreaterThan(0);
    }
  });
});
