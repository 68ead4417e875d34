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

interface StoriesGolden {
  eval_text: { file: string };
  token_ids: number[];
  window_mean_nll: number[];
  ppl: number;
  wikitext2: { token_ids: number[]; window_mean_nll: number[]; ppl: number };
}

describe.skipIf(!hasShared)("computePerplexity golden stories260K", () => {
  let opened: OpenedModel | undefined;
  let golden: StoriesGolden;

  beforeAll(async () => {
    golden = readGolden<StoriesGolden>("stories260K");
    opened = await openGoldenModel("stories260K/stories260K.bin");
  });

  afterAll(() => closeGoldenModel(opened));

  it("reproduces the TinyStories perplexity", async () => {
    const result = await computePerplexity(opened!.session, golden.token_ids, { window: goldenWindow });

    expect(result.windows).toBe(golden.window_mean_nll.length);
    expect(result.tokens).toBe(golden.window_mean_nll.length * (goldenWindow - 1));
    expect(maxAbsDifference(result.windowMeanNll, golden.window_mean_nll)).toBeLessThan(windowNllTolerance);
    expect(relativeDifference(result.ppl, golden.ppl)).toBeLessThan(tolerances.goldenPerplexity);
  });

  it("reproduces the WikiText-2 perplexity", async () => {
    const reference = golden.wikitext2;

    const result = await computePerplexity(opened!.session, reference.token_ids, { window: goldenWindow });

    expect(result.windows).toBe(reference.window_mean_nll.length);
    expect(maxAbsDifference(result.windowMeanNll, reference.window_mean_nll)).toBeLessThan(windowNllTolerance);
    expect(relativeDifference(result.ppl, reference.ppl)).toBeLessThan(tolerances.goldenPerplexity);
  });

  // Text to ids to window NLLs in one path. The ids must equal the golden ids, so the full-stream
  // perplexity above carries over. Only the first windows are scored again, which keeps the test short.
  it("scores the tokenized text", async () => {
    const text = await loadTextSource(sharedPath(golden.eval_text.file), { maxChars: goldenTextChars });

    const ids = opened!.model.tokenizer.encode(text.text, { addBos: true });
    const result = await computePerplexity(opened!.session, ids.slice(0, prefixWindows * goldenWindow), {
      window: goldenWindow,
    });

    expect(ids).toEqual(golden.token_ids);
    const expected = golden.window_mean_nll.slice(0, prefixWindows);
    expect(maxAbsDifference(result.windowMeanNll, expected)).toBeLessThan(windowNllTolerance);
  });
});
