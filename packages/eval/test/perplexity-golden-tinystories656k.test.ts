import { loadTextSource } from "@elitekv/models";
import { maxAbsDifference, relativeDifference, tolerances } from "@elitekv/vitest-config/matchers";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { computePerplexity } from "../src/index.js";
import {
  closeGoldenModel,
  goldenTextChars,
  goldenWindow,
  openGoldenModel,
  prefixWindows,
  readGolden,
  windowNllTolerance,
  type OpenedModel,
} from "./golden-helpers.js";

// Tokenization A is tokenizer.json as published, with BOS prepended.
interface TinyStoriesGolden {
  eval_text: { file: string };
  token_ids_A: number[];
  window_mean_nll_A: number[];
  ppl_A: number;
}

describe.skipIf(!hasShared)("computePerplexity golden tinystories-656k", () => {
  let opened: OpenedModel | undefined;
  let golden: TinyStoriesGolden;

  beforeAll(async () => {
    golden = readGolden<TinyStoriesGolden>("tinystories-656k");
    opened = await openGoldenModel("tinystories-656k");
  });

  afterAll(() => closeGoldenModel(opened));

  it("reproduces the TinyStories perplexity", async () => {
    const result = await computePerplexity(opened!.session, golden.token_ids_A, { window: goldenWindow });

    expect(result.windows).toBe(golden.window_mean_nll_A.length);
    expect(maxAbsDifference(result.windowMeanNll, golden.window_mean_nll_A)).toBeLessThan(windowNllTolerance);
    expect(relativeDifference(result.ppl, golden.ppl_A)).toBeLessThan(tolerances.goldenPerplexity);
  });

  // Text to ids to window NLLs in one path. The ids must equal the golden ids, so the full-stream
  // perplexity above carries over. Only the first windows are scored again, which keeps the test short.
  it("scores the tokenized text", async () => {
    const text = await loadTextSource(sharedPath(golden.eval_text.file), { maxChars: goldenTextChars });

    const ids = opened!.model.tokenizer.encode(text.text, { addBos: true });
    const result = await computePerplexity(opened!.session, ids.slice(0, prefixWindows * goldenWindow), {
      window: goldenWindow,
    });

    expect(ids).toEqual(golden.token_ids_A);
    const expected = golden.window_mean_nll_A.slice(0, prefixWindows);
    expect(maxAbsDifference(result.windowMeanNll, expected)).toBeLessThan(windowNllTolerance);
  });
});
