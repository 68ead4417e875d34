// The recovered checkpoint of tinystories-656k at 25%: written in the EliteKV format with its recovery
// record, loaded by loadModel, and decoded from the compressed cache on the CPU and ORT backends.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { argmax, InvalidArgumentError, type Backend, type LoadedModel } from "@elitekv/core";
import { convertModel, writeEliteKvCheckpoint } from "@elitekv/converter";
import { fileSha256, loadModel } from "@elitekv/models";
import { createCpuBackend } from "@elitekv/runtime-cpu";
import { createOrtBackend, createOrtMatmul } from "@elitekv/runtime-ort";
import { maxAbsDifference } from "@elitekv/vitest-config/matchers";
import { hasShared } from "@elitekv/vitest-config/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  checkBaseModel,
  layerwiseRecoveryRecord,
  readConvertedManifest,
  recoverLayerwise,
  writeRecoveredCheckpoint,
  type LayerwiseRecoveryResult,
} from "../src/index.js";
import { ascendingRanking, loadTinyStories, storiesModelPath, tinyStoriesIds, tinyStoriesModelPath } from "./fixtures.js";

const seqLen = 128;
const decodeSteps = 6;

/** Prefills `prompt`, then decodes greedily; returns the logits of every step. */
async function greedyLogits(backend: Backend, model: LoadedModel, prompt: number[]): Promise<Float32Array[]> {
  const session = await backend.createSession(model, { maxContext: 64 });
  try {
    expect(session.cache.layout.kind).toBe("elitekv");
    const steps: Float32Array[] = [];
    let logits = await session.prefill(prompt);
    steps.push(logits.data.slice());
    for (let step = 0; step < decodeSteps; step++) {
      logits = await session.decode(argmax(logits.data));
      steps.push(logits.data.slice());
    }
    return steps;
  } finally {
    await session.dispose();
  }
}

describe.skipIf(!hasShared)("recovered checkpoint of tinystories-656k", () => {
  let scratch: string;
  let base: LoadedModel;
  let model: LoadedModel;
  let result: LayerwiseRecoveryResult;
  let recoveredDir: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "elitekv-recovered-"));
    base = await loadTinyStories();
    const converted = await convertModel(base, ascendingRanking(base), { ratio: 0.25 }, { svd: "weight" });
    const convertedDir = join(scratch, "converted");
    await writeEliteKvCheckpoint(convertedDir, {
      model: base,
      converted,
      provenance: {
        ranking: { strategy: "ascending", calibration: { note: "test" } },
        sourceSha256: await fileSha256(join(tinyStoriesModelPath, "model.safetensors")),
        svd: "weight",
        allocation: { method: "rule", text: null, tokens: 0, candidates: [] },
      },
      dtype: "f32",
    });
    model = await loadModel(convertedDir);

    const backend = createOrtBackend({ threads: 2 });
    const matmul = await createOrtMatmul({ threads: 2 });
    try {
      const ids = tinyStoriesIds(base, 4 * seqLen, 0).calibration;
      result = await recoverLayerwise(base, model, { ids, seqLen, backend, matmul });
    } finally {
      await matmul.dispose();
      await backend.dispose();
    }

    recoveredDir = join(scratch, "recovered");
    await writeRecoveredCheckpoint(recoveredDir, {
      base,
      model,
      manifest: await readConvertedManifest(model),
      weights: result.weights,
      recovery: layerwiseRecoveryRecord(result, { text: "tinystories from char 400000", seqLen, steps: 0, seed: 3 }),
    });
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it("accepts only the source model as base", async () => {
    const manifest = await readConvertedManifest(model);

    await expect(checkBaseModel(base, manifest)).resolves.toBeUndefined();
    await expect(checkBaseModel(await loadModel(storiesModelPath), manifest)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("loads with the recovery record", async () => {
    const loaded = await loadModel(recoveredDir);
    const manifest = await readConvertedManifest(loaded);
    const original = await readConvertedManifest(model);

    expect(loaded.source.format).toBe("elitekv");
    expect(loaded.elite).toEqual(model.elite);
    expect(manifest.ranking).toEqual(original.ranking);
    expect(manifest.sourceSha256).toBe(original.sourceSha256);
    expect(manifest.allocation).toEqual(original.allocation);
    expect(manifest.recovery).toEqual({
      method: "layerwise",
      text: "tinystories from char 400000",
      tokens: 4 * seqLen,
      seqLen,
      steps: 0,
      seed: 3,
      layers: result.layers.map(({ layer, lossBefore, lossAfter }) => ({ layer, lossBefore, lossAfter })),
    });
    for (const name of result.weights.names()) {
      expect(maxAbsDifference(loaded.weights.get(name).data, result.weights.get(name).data), name).toBe(0);
    }
    expect(maxAbsDifference(loaded.weights.get("layers.1.wo").data, model.weights.get("layers.1.wo").data)).toBeGreaterThan(1e-3);
  });

  it("decodes alike on both backends", async () => {
    const loaded = await loadModel(recoveredDir);
    const prompt = loaded.tokenizer.encode("Once upon a time, there was a little", { addBos: true });
    const cpu = createCpuBackend({ threads: 1 });
    const ort = createOrtBackend({ threads: 1 });
    try {
      const cpuSteps = await greedyLogits(cpu, loaded, prompt);
      const ortSteps = await greedyLogits(ort, loaded, prompt);

      expect(cpuSteps).toHaveLength(decodeSteps + 1);
      cpuSteps.forEach((logits, step) => expect(maxAbsDifference(logits, ortSteps[step]), `step ${step}`).toBeLessThan(2e-4));
    } finally {
      await cpu.dispose();
      await ort.dispose();
    }
  });
});
