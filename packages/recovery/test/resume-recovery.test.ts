// Resuming layer-wise recovery on stories260K (5 layers): an interrupted run leaves its finished layers
// in the partial folder, and a rerun fits only the rest and ends with the weights of an uninterrupted run.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { InvalidArgumentError, type Backend, type LoadedModel } from "@elitekv/core";
import { loadModel } from "@elitekv/models";
import { createOrtBackend, createOrtMatmul, type OrtMatmul } from "@elitekv/runtime-ort";
import { maxAbsDifference } from "@elitekv/vitest-config/matchers";
import { hasShared } from "@elitekv/vitest-config/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { recoverLayerwise, recoveryStateFileName, type LayerwiseRecoveryOptions } from "../src/index.js";
import { convertedModel, storiesModelPath, tinyStoriesIds } from "./fixtures.js";

const seqLen = 128;

describe.skipIf(!hasShared)("resumable recovery on stories260K", () => {
  let scratch: string;
  let backend: Backend;
  let matmul: OrtMatmul;
  let base: LoadedModel;
  let model: LoadedModel;
  let options: LayerwiseRecoveryOptions;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "elitekv-recovery-"));
    backend = createOrtBackend({ threads: 2 });
    matmul = await createOrtMatmul({ threads: 2 });
    base = await loadModel(storiesModelPath);
    model = await convertedModel(base, { ratio: 0.25 });
    options = { ids: tinyStoriesIds(base, 8 * seqLen, 0).calibration, seqLen, backend, matmul };
  });

  afterAll(async () => {
    await matmul?.dispose();
    await backend?.dispose();
    await rm(scratch, { recursive: true, force: true });
  });

  it("skips finished layers on restart", async () => {
    const partialDir = join(scratch, "interrupted.partial");
    const stop = new Error("interrupted after layer 1");
    const interrupted = recoverLayerwise(base, model, {
      ...options,
      partialDir,
      onProgress: (event) => {
        if (event.type === "advance" && event.current === 2) throw stop;
      },
    });
    await expect(interrupted).rejects.toBe(stop);
    expect((await readdir(partialDir)).sort()).toEqual(["layer-0.safetensors", "layer-1.safetensors", recoveryStateFileName]);

    const fitted: number[] = [];
    const resumed = await recoverLayerwise(base, model, {
      ...options,
      partialDir,
      onProgress: (event) => {
        if (event.type === "advance") fitted.push(event.current - 1);
      },
    });
    const uninterrupted = await recoverLayerwise(base, model, options);

    expect(fitted).toEqual([2, 3, 4]);
    expect(resumed.layers.map((layer) => layer.resumed)).toEqual([true, true, false, false, false]);
    expect(resumed.layers.map((layer) => layer.lossAfter)).toEqual(uninterrupted.layers.map((layer) => layer.lossAfter));
    for (const name of uninterrupted.weights.names()) {
      expect(maxAbsDifference(resumed.weights.get(name).data, uninterrupted.weights.get(name).data), name).toBe(0);
    }
  });

  it("rejects a folder of another run", async () => {
    const partialDir = join(scratch, "other.partial");
    await recoverLayerwise(base, model, { ...options, partialDir, ridge: 1e-4 });

    const error = await recoverLayerwise(base, model, { ...options, partialDir }).catch((caught: Error) => caught);

    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(/contains layers of a recovery run with another model, base, calibration text or settings/);
  });
});
