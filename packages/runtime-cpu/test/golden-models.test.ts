import { readFileSync } from "node:fs";

import { afterAll, describe, expect, it } from "vitest";

import { argmax, logSumExp, type Backend, type LoadedModel } from "@elitekv/core";
import { loadModel } from "@elitekv/models";
import { maxAbsDifference, relativeDifference, tolerances } from "@elitekv/vitest-config/matchers";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";

import { createCpuBackend } from "../src/index.js";

interface Golden {
  greedy_from_bos: { ids: number[] };
  logits_for_sequence?: { ids: number[]; logits: number[][] };
  token_ids?: number[];
  token_ids_A?: number[];
  window: number;
  window_mean_nll?: number[];
  window_mean_nll_A?: number[];
}

const models = [
  { name: "stories260K", file: "stories260K.bin" },
  { name: "aidreams260K", file: "aidreams260K.bin" },
  { name: "tinystories-656k", file: "" },
];

function readGolden(name: string): Golden {
  return JSON.parse(readFileSync(sharedPath("models", name, "golden.json"), "utf8")) as Golden;
}

describe.skipIf(!hasShared)("shared models against fp64 references", () => {
  const backend: Backend = createCpuBackend({ threads: 2 });
  const loaded = new Map<string, Promise<LoadedModel>>();
  const load = (name: string, file: string) => {
    if (!loaded.has(name)) loaded.set(name, loadModel(sharedPath("models", name, file)));
    return loaded.get(name)!;
  };

  afterAll(() => backend.dispose());

  for (const { name, file } of models) {
    const golden = hasShared ? readGolden(name) : undefined;

    const sequence = golden?.logits_for_sequence;
    if (sequence !== undefined) {
      it(`${name} logits match`, async () => {
        const { ids, logits: expected } = sequence;
        const session = await backend.createSession(await load(name, file));

        const logits = await session.prefill(ids, { logits: "all" });

        expect(logits.rows).toBe(expected.length);
        expect(maxAbsDifference(logits.data, expected.flat())).toBeLessThan(tolerances.goldenLogits);
        await session.dispose();
      });
    }

    it(`${name} greedy decoding from BOS`, async () => {
      const model = await load(name, file);
      const expected = golden!.greedy_from_bos.ids;
      const session = await backend.createSession(model);

      const generated: number[] = [];
      let logits = await session.prefill([model.config.bosTokenId ?? 1]);
      while (generated.length < expected.length) {
        const next = argmax(logits.data);
        generated.push(next);
        if (generated.length < expected.length) logits = await session.decode(next);
      }

      expect(generated).toEqual(expected);
      await session.dispose();
    });

    const windowIds = golden?.token_ids ?? golden?.token_ids_A;
    const windowNll = golden?.window_mean_nll ?? golden?.window_mean_nll_A;
    if (windowIds !== undefined && windowNll !== undefined) {
      it(`${name} first window NLL`, async () => {
        const ids = windowIds.slice(0, golden!.window);
        const session = await backend.createSession(await load(name, file));

        const logits = await session.prefill(ids, { logits: "all" });
        let totalNll = 0;
        for (let t = 0; t + 1 < ids.length; t++) {
          const row = t * logits.vocabSize;
          totalNll += logSumExp(logits.data, row, logits.vocabSize) - logits.data[row + ids[t + 1]];
        }

        // The NLL averages 511 predictions at positions up to 511, so it checks long-range attention.
        expect(relativeDifference(totalNll / (ids.length - 1), windowNll[0])).toBeLessThan(1e-5);
        await session.dispose();
      });
    }
  }
});
