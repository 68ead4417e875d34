import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import type { LoadedModel, Logits } from "@elitekv/core";
import { fileSha256, loadModel } from "@elitekv/models";
import { createCpuBackend } from "@elitekv/runtime-cpu";
import { maxAbsDifference } from "@elitekv/vitest-config/matchers";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { convertModel, writeEliteKvCheckpoint } from "../src/index.js";

const prompt = "Once upon a time there was a little cat who liked to play.";

async function allLogits(model: LoadedModel, ids: number[]): Promise<Logits> {
  const backend = createCpuBackend({ threads: 1 });
  const session = await backend.createSession(model, { maxContext: 64 });
  try {
    return await session.prefill(ids, { logits: "all" });
  } finally {
    await session.dispose();
    await backend.dispose();
  }
}

// With every chunk rotated and the latent at full rank, conversion is lossless, so a converted
// checkpoint loaded from disk must give the base model's logits. This ties the weight conventions of
// the converter to the loader and to the CPU backend's EliteKV attention.
describe.skipIf(!hasShared)("converted stories260K checkpoint", () => {
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "elitekv-parity-"));
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it("matches base logits when lossless", async () => {
    const path = sharedPath("models", "stories260K", "stories260K.bin");
    const model = await loadModel(path);
    const ranking = {
      layers: Array.from({ length: 5 }, () => ({
        kvHeads: Array.from({ length: 4 }, (_, head) => ({ ranking: [0, 1, 2, 3].map((index) => (index + head) % 4) })),
      })),
    };
    const converted = await convertModel(model, ranking, { ropeChunks: 4, latentDim: 32 }, { svd: "weight" });
    const dir = join(scratch, "lossless");
    await writeEliteKvCheckpoint(dir, {
      model,
      converted,
      provenance: { ranking: { strategy: "rotated-order", calibration: {} }, sourceSha256: await fileSha256(path), svd: "weight" },
      dtype: "f32",
    });

    const loaded = await loadModel(dir);
    const ids = model.tokenizer.encode(prompt, { addBos: true });
    const base = await allLogits(model, ids);
    const elite = await allLogits(loaded, ids);

    expect(loaded.elite).toBeDefined();
    expect(elite.rows).toBe(ids.length);
    expect(maxAbsDifference(elite.data, base.data)).toBeLessThan(1e-4);
  });
});
