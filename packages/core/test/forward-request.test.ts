import { describe, expect, it } from "vitest";

import { InvalidArgumentError, validateForwardRequest, validateTokenIds, type ModelConfig } from "../src/index.js";

const config: ModelConfig = {
  architecture: "llama",
  hiddenSize: 64,
  intermediateSize: 172,
  numLayers: 3,
  numHeads: 8,
  numKvHeads: 4,
  headDim: 8,
  vocabSize: 32,
  maxPositionEmbeddings: 128,
  rmsNormEps: 1e-5,
  rope: { theta: 10000, rotaryDim: 8, sourceLayout: "interleaved", scaling: { type: "none" } },
  tieWordEmbeddings: true,
  bosTokenId: 1,
  eosTokenIds: [2],
};

const onCapture = () => {};

describe("validateForwardRequest", () => {
  it("defaults to last logits, no capture", () => {
    expect(validateForwardRequest(config, [1, 5, 31])).toEqual({ tokens: [1, 5, 31], logits: "last", capturedLayers: [] });
  });

  it("copies the ids", () => {
    const ids = [1, 2, 3];
    const request = validateForwardRequest(config, ids, { logits: "all" });
    ids[0] = 7;
    expect(request.tokens).toEqual([1, 2, 3]);
    expect(request.logits).toBe("all");
  });

  it("captures all layers or sorted named ones", () => {
    expect(validateForwardRequest(config, [1], { capture: { onCapture } }).capturedLayers).toEqual([0, 1, 2]);
    expect(validateForwardRequest(config, [1], { capture: { onCapture, layers: [2, 0, 2] } }).capturedLayers).toEqual([0, 2]);
  });

  it.each([
    [[], "non-empty array"],
    [[0, 32], "token id 32 at index 1 is not an integer in [0, 32)"],
    [[-1], "token id -1 at index 0"],
    [[1.5], "token id 1.5"],
    [[Number.NaN], "token id NaN"],
  ])("rejects the ids %j", (ids, message) => {
    expect(() => validateForwardRequest(config, ids)).toThrow(InvalidArgumentError);
    expect(() => validateTokenIds(ids, config.vocabSize)).toThrow(message);
  });

  it("rejects an unknown logits mode", () => {
    const options = { logits: "first" } as unknown as { logits: "last" };
    expect(() => validateForwardRequest(config, [1], options)).toThrow('logits must be "last" or "all", got first');
  });

  it.each([[3], [-1], [0.5]])("rejects capture layer %s", (layer) => {
    expect(() => validateForwardRequest(config, [1], { capture: { onCapture, layers: [0, layer] } })).toThrow(
      `capture layer ${layer} is not an integer in [0, 3)`,
    );
  });

  it("rejects a capture without a callback", () => {
    const capture = { layers: [0] } as unknown as { onCapture: () => void };
    expect(() => validateForwardRequest(config, [1], { capture })).toThrow("capture.onCapture must be a function");
  });
});
