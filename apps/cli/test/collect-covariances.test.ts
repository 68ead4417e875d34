// Covariances of attention inputs. The input of layer 0 is RMSNorm(embedding) of each id, which needs no
// context, so its Xᵀ X follows from the weights alone and must not depend on the window.
import { weightNames, type Backend, type InferenceSession, type LoadedModel, type Matrix } from "@elitekv/core";
import { loadModel } from "@elitekv/models";
import { createCpuBackend } from "@elitekv/runtime-cpu";
import { createOrtMatmul } from "@elitekv/runtime-ort";
import { maxAbsDifference } from "@elitekv/vitest-config/matchers";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { collectCovariances } from "@elitekv/converter";

/** Returns Σ over ids of x xᵀ with x = RMSNorm(embedding row) ⊙ attention norm weight of layer 0, in float64. */
function layerZeroCovariance(model: LoadedModel, ids: readonly number[]): Float64Array {
  const hidden = model.config.hiddenSize;
  const embedding = model.weights.get(weightNames.tokenEmbedding).data;
  const norm = model.weights.get(weightNames.attentionNorm(0)).data;
  const sums = new Float64Array(hidden * hidden);
  const x = new Float64Array(hidden);

  for (const id of ids) {
    let squares = 0;
    for (let i = 0; i < hidden; i++) squares += embedding[id * hidden + i] ** 2;
    const scale = 1 / Math.sqrt(squares / hidden + model.config.rmsNormEps);
    for (let i = 0; i < hidden; i++) x[i] = embedding[id * hidden + i] * scale * norm[i];
    for (let i = 0; i < hidden; i++) {
      for (let j = 0; j < hidden; j++) sums[i * hidden + j] += x[i] * x[j];
    }
  }
  return sums;
}

function relativeMaxDifference(actual: Matrix, expected: Float64Array): number {
  let scale = 0;
  for (const value of expected) scale = Math.max(scale, Math.abs(value));
  return maxAbsDifference(actual.data, expected) / scale;
}

describe.skipIf(!hasShared)("collectCovariances", () => {
  let model: LoadedModel;
  let backend: Backend;
  let session: InferenceSession;
  let ids: number[];

  beforeAll(async () => {
    model = await loadModel(sharedPath("models", "stories260K", "stories260K.bin"));
    backend = createCpuBackend({ threads: 1 });
    session = await backend.createSession(model, { maxContext: 64 });
    ids = model.tokenizer.encode("Once upon a time there was a little dog. He liked to run in the park with his friends.", {
      addBos: true,
    });
  });

  afterAll(async () => {
    await session.dispose();
    await backend.dispose();
  });

  it("matches layer 0 from weights", async () => {
    const covariances = await collectCovariances(session, ids, { window: 64, onProgress: () => {} });

    expect(covariances).toHaveLength(model.config.numLayers);
    expect(relativeMaxDifference(covariances[0], layerZeroCovariance(model, ids))).toBeLessThan(1e-5);
  });

  it("covers a partial last window", async () => {
    // A window of 8 leaves a partial last window unless the id count is a multiple of 8.
    expect(ids.length % 8).not.toBe(0);

    const covariances = await collectCovariances(session, ids, { window: 8, onProgress: () => {} });

    expect(relativeMaxDifference(covariances[0], layerZeroCovariance(model, ids))).toBeLessThan(1e-5);
  });

  it("gives the same sums through a matmul provider", async () => {
    const matmul = await createOrtMatmul({ threads: 1 });
    try {
      const loop = await collectCovariances(session, ids, { window: 16, onProgress: () => {} });
      const product = await collectCovariances(session, ids, { window: 16, matmul, onProgress: () => {} });

      for (let layer = 0; layer < model.config.numLayers; layer++) {
        expect(relativeMaxDifference(product[layer], loop[layer].data), `layer ${layer}`).toBeLessThan(1e-12);
      }
    } finally {
      await matmul.dispose();
    }
  });
});
