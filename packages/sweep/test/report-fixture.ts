// A hand-made sweep report whose derived fields are all consistent, for the validator and markdown tests.
import type { SweepReport } from "../src/sweep-report.js";

const baseMeanNll = 1.5;
export const basePpl = Math.exp(baseMeanNll);

/** Returns a report of a stories260K-shaped model (4 KV heads of 8 dims) with every derived field consistent. */
export function validReport(): SweepReport {
  const row = (ratio: number, strategy: "ropelite" | "high-freq", svd: "weight" | "activation", latentDim: number, ppl: number) => ({
    ratio,
    // (2·G·r + d_c) / (2·G·h) with G = 4, h = 8, r = 1.
    cacheRatio: (8 + latentDim) / 64,
    strategy,
    svd,
    ropeChunks: 1,
    latentDim,
    ppl,
    pplIncreasePct: 100 * (ppl / basePpl - 1),
    klDivergence: 0.05,
    top1Agreement: 0.9,
    meanWeightRelativeError: 0.3,
  });
  return {
    schemaVersion: 1,
    model: {
      path: "/models/stories260K.bin",
      fingerprint: "a".repeat(64),
      config: { layers: 5, hiddenSize: 64, heads: 8, kvHeads: 4, headDim: 8, vocabSize: 512, contextLength: 512, ropeTheta: 10000 },
    },
    backend: "cpu",
    calibration: { text: "file calib.txt", skipChars: 400000, tokens: 512, seqLen: 64, windows: 8, pairs: 200, seed: 0 },
    evaluation: { text: "file eval.txt", tokens: 1000, scoredTokens: 7 * 127, windows: 7, window: 128 },
    base: { ppl: basePpl, meanNll: baseMeanNll },
    rows: [
      row(0.5, "high-freq", "activation", 24, 5.1),
      row(0.5, "high-freq", "weight", 24, 5.3),
      row(0.5, "ropelite", "weight", 24, 5.0),
      row(0.25, "ropelite", "activation", 8, 7.5),
    ],
    timings: { rankSeconds: 1, covarianceSeconds: 0.5, convertSeconds: 2, compareSeconds: 3, totalSeconds: 6.5 },
    passes: { modelsPerPass: 4, count: 1 },
    files: { markdown: "report.md", plots: ["ppl-vs-ratio.svg"], rankings: ["ranking-ropelite.json"] },
    command: "elitekv sweep --model stories260K.bin",
  };
}
