// The optional recovery record of elitekv.json: built, serialised and parsed back unchanged, and every
// invalid field rejected with the file and field named.
import { InvalidConfigError, type EliteKvConfig, type ModelConfig } from "@elitekv/core";
import { buildEliteKvManifest, parseEliteKvManifest, type EliteKvManifest, type EliteKvRecovery } from "@elitekv/models";
import { describe, expect, it } from "vitest";

// G = 2 KV heads of 8 dims under 4 query heads, hidden size 16, two layers.
const config: ModelConfig = {
  architecture: "llama",
  hiddenSize: 16,
  intermediateSize: 24,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 8,
  vocabSize: 8,
  maxPositionEmbeddings: 64,
  rmsNormEps: 1e-5,
  rope: { theta: 10000, scaling: { type: "none" }, rotaryDim: 8, sourceLayout: "half" },
  tieWordEmbeddings: false,
  bosTokenId: 1,
  eosTokenIds: [2],
};

const elite: EliteKvConfig = {
  ropeChunksPerHead: 1,
  layers: [
    { ropeChunks: [[3], [0]], latentDim: 6 },
    { ropeChunks: [[1], [2]], latentDim: 9 },
  ],
};

const recovery: EliteKvRecovery = {
  method: "layerwise",
  text: "tinystories_val.txt",
  tokens: 8192,
  seqLen: 256,
  steps: 0,
  seed: 0,
  layers: [
    { layer: 0, lossBefore: 0.25, lossAfter: 0.125 },
    { layer: 1, lossBefore: 0.5, lossAfter: 0.375 },
  ],
};

const distilled: EliteKvRecovery = {
  ...recovery,
  method: "both",
  distillation: { steps: 200, learningRate: 0.001, klBefore: 1.25, klAfter: 0.5, kept: true },
};

function manifest(withRecovery: EliteKvRecovery | undefined): EliteKvManifest {
  return buildEliteKvManifest({
    baseConfig: config,
    elite,
    svd: "weight",
    dtype: "f32",
    ranking: { strategy: "ropelite", calibration: { tokens: 2048 } },
    sourceSha256: "0".repeat(63) + "a",
    recovery: withRecovery,
  });
}

function parsed(value: unknown): EliteKvManifest {
  return parseEliteKvManifest(JSON.parse(JSON.stringify(value)), "elitekv.json");
}

describe("recovery record in elitekv.json", () => {
  it("round-trips through JSON", () => {
    const written = manifest(recovery);

    expect(parsed(written).recovery).toEqual(recovery);
    expect(parsed(written)).toEqual(written);
  });

  it("round-trips a distillation record", () => {
    const written = manifest(distilled);

    expect(parsed(written).recovery).toEqual(distilled);
    expect(parsed(written).recovery?.distillation?.klAfter).toBe(0.5);
  });

  it("stays absent for a plain conversion", () => {
    const written = manifest(undefined);

    expect("recovery" in written).toBe(false);
    expect("recovery" in parsed(written)).toBe(false);
  });

  const invalidFields: Array<[string, (record: any) => void, RegExp]> = [
    ["method", (record) => (record.method = "finetune"), /field recovery\.method: recovery\.method must be "layerwise", "distill" or "both", got "finetune"/],
    ["text", (record) => (record.text = 3), /field recovery\.text: recovery\.text must be a string, got 3/],
    ["tokens", (record) => (record.tokens = -1), /field recovery\.tokens: recovery\.tokens must be an integer of at least 0, got -1/],
    ["seqLen", (record) => (record.seqLen = 0), /field recovery\.seqLen/],
    ["steps", (record) => (record.steps = 1.5), /field recovery\.steps/],
    ["seed", (record) => delete record.seed, /field recovery\.seed: .*got nothing/],
    ["layers", (record) => (record.layers = {}), /field recovery\.layers: recovery\.layers must be an array/],
    ["layers[1].layer", (record) => (record.layers[1].layer = 0), /field recovery\.layers\[1\]\.layer: .*in 0\.\.1 listed once, got 0/],
    ["layers[0].layer", (record) => (record.layers[0].layer = 2), /field recovery\.layers\[0\]\.layer/],
    ["layers[0].lossAfter", (record) => (record.layers[0].lossAfter = -0.5), /field recovery\.layers\[0\]\.lossAfter: .*finite non-negative number, got -0\.5/],
    ["layers[1].lossBefore", (record) => (record.layers[1].lossBefore = "0.5"), /field recovery\.layers\[1\]\.lossBefore/],
  ];

  for (const [field, edit, message] of invalidFields) {
    it(`rejects an invalid ${field}`, () => {
      const written = JSON.parse(JSON.stringify(manifest(recovery)));
      edit(written.recovery);

      expect(() => parsed(written)).toThrow(InvalidConfigError);
      expect(() => parsed(written)).toThrow(message);
    });
  }

  const invalidDistillations: Array<[string, (record: any) => void, RegExp]> = [
    ["missing", (record) => delete record.distillation, /field recovery\.distillation: recovery\.distillation is required for method "both", got nothing/],
    ["on layerwise", (record) => (record.method = "layerwise"), /field recovery\.distillation: recovery\.distillation must be absent for method "layerwise"/],
    ["steps", (record) => (record.distillation.steps = -3), /field recovery\.distillation\.steps: .*non-negative integer, got -3/],
    ["learningRate", (record) => (record.distillation.learningRate = 0), /field recovery\.distillation\.learningRate: .*positive number, got 0/],
    ["klAfter", (record) => (record.distillation.klAfter = null), /field recovery\.distillation\.klAfter: .*finite number, got null/],
    ["kept", (record) => delete record.distillation.kept, /field recovery\.distillation\.kept: .*true or false, got nothing/],
  ];

  for (const [field, edit, message] of invalidDistillations) {
    it(`rejects a distillation record: ${field}`, () => {
      const written = JSON.parse(JSON.stringify(manifest(distilled)));
      edit(written.recovery);

      expect(() => parsed(written)).toThrow(InvalidConfigError);
      expect(() => parsed(written)).toThrow(message);
    });
  }

  it("rejects a record that is not an object", () => {
    const written = { ...manifest(undefined), recovery: [1] };

    expect(() => parsed(written)).toThrow(/elitekv\.json, field recovery: recovery must be a JSON object/);
  });
});
