import {
  BackendFailureError,
  InvalidArgumentError,
  type ForwardOptions,
  type InferenceSession,
  type KvCache,
  type LoadedModel,
  type Logits,
  type ModelConfig,
} from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { analyzeModel, captureLayer, captureLayerGroups, captureLayers } from "../src/index.js";
import { syntheticConfig } from "./synthetic-capture.js";

// Query value at (position, head, dim) of `layer` for window id `id`: 10000 layer + 1000 id + 100
// position + 10 head + dim, so a misplaced run or layer shows up as a wrong value. Keys use the same
// formula with the negative sign.
function queryValue(id: number, position: number, head: number, dim: number, layer = 0): number {
  return 10000 * layer + 1000 * id + 100 * position + 10 * head + dim;
}

/** A session that delivers each prefill's capture in runs of `runLength` positions. */
class RunCaptureSession implements InferenceSession {
  readonly config: ModelConfig;
  readonly cache = {} as KvCache;
  position = 0;
  resets = 0;
  droppedTokens = 0;

  constructor(config: ModelConfig, private readonly runLength: number) {
    this.config = config;
  }

  async prefill(ids: readonly number[], options: ForwardOptions = {}): Promise<Logits> {
    const { numHeads, numKvHeads, headDim } = this.config;
    const capture = options.capture!;
    const delivered = ids.length - this.droppedTokens;

    for (let start = 0; start < delivered; start += this.runLength) {
      const tokens = Math.min(this.runLength, delivered - start);
      for (const layer of capture.layers ?? []) {
        const query = new Float32Array(tokens * numHeads * headDim);
        const key = new Float32Array(tokens * numKvHeads * headDim);
        for (let t = 0; t < tokens; t++) {
          for (let d = 0; d < headDim; d++) {
            for (let h = 0; h < numHeads; h++) query[(t * numHeads + h) * headDim + d] = queryValue(ids[0], start + t, h, d, layer);
            for (let g = 0; g < numKvHeads; g++) key[(t * numKvHeads + g) * headDim + d] = -queryValue(ids[0], start + t, g, d, layer);
          }
        }
        capture.onCapture({ layer, startPosition: this.position + start, tokens, query, key });
      }
    }
    this.position += ids.length;
    return { rows: 1, vocabSize: this.config.vocabSize, data: new Float32Array(this.config.vocabSize) };
  }

  decode(id: number): Promise<Logits> {
    return this.prefill([id]);
  }

  reset(): void {
    this.position = 0;
    this.resets++;
  }

  async dispose(): Promise<void> {}
}

describe("captureLayer", () => {
  const config = syntheticConfig(2, 1, 4);

  it("assembles runs of positions per window", async () => {
    const session = new RunCaptureSession(config, 3);

    const capture = await captureLayer(session, [[1, 5, 5, 5, 5, 5, 5], [2, 6, 6, 6, 6, 6, 6]], 0);

    expect(session.resets).toBe(2);
    expect(capture.query).toHaveLength(2);
    expect(capture.query[1]).toHaveLength(7 * 2 * 4);
    expect(capture.query[0][(6 * 2 + 1) * 4 + 3]).toBe(queryValue(1, 6, 1, 3));
    expect(capture.query[1][(4 * 2 + 0) * 4 + 2]).toBe(queryValue(2, 4, 0, 2));
    expect(capture.key[1][5 * 4 + 1]).toBe(-queryValue(2, 5, 0, 1));
  });

  it("rejects a capture that misses positions", async () => {
    const session = new RunCaptureSession(config, 4);
    session.droppedTokens = 2;

    await expect(captureLayer(session, [[1, 1, 1, 1, 1]], 0)).rejects.toThrow(BackendFailureError);
    await expect(captureLayer(session, [[1, 1, 1, 1, 1]], 0)).rejects.toThrow(/captured 3 of 5 tokens of layer 0/);
  });

  it("rejects a layer out of range", async () => {
    await expect(captureLayer(new RunCaptureSession(config, 4), [[1]], 1)).rejects.toThrow(InvalidArgumentError);
  });
});

describe("captureLayers", () => {
  const config = syntheticConfig(2, 1, 4, 3);

  it("captures several layers in one pass, in the order asked", async () => {
    const session = new RunCaptureSession(config, 2);

    const [second, first] = await captureLayers(session, [[3, 1, 1, 1, 1]], [2, 0]);

    expect(session.resets).toBe(1);
    expect(second.query[0][(4 * 2 + 1) * 4 + 3]).toBe(queryValue(3, 4, 1, 3, 2));
    expect(first.query[0][(4 * 2 + 1) * 4 + 3]).toBe(queryValue(3, 4, 1, 3, 0));
    expect(first.key[0][3 * 4 + 2]).toBe(-queryValue(3, 3, 0, 2, 0));
  });

  it("rejects a layer listed twice", async () => {
    await expect(captureLayers(new RunCaptureSession(config, 2), [[1]], [1, 1])).rejects.toThrow(/layer 1 is listed twice/);
  });

  it("groups layers to fit a budget", () => {
    expect(captureLayerGroups(5, 100, 250)).toEqual([[0, 1], [2, 3], [4]]);
    expect(captureLayerGroups(3, 100, 1)).toEqual([[0], [1], [2]]);
    expect(captureLayerGroups(3, 100, 1e9)).toEqual([[0, 1, 2]]);
  });
});

describe("analyzeModel arguments", () => {
  const config = syntheticConfig(2, 1, 4);
  const model = { config, source: { format: "llama2c", path: "synthetic.bin", files: [], details: {} } } as unknown as LoadedModel;
  const options = { strategy: "ropelite" as const, windows: 1, windowLength: 4, pairs: 10, seed: 1, fingerprint: "0".repeat(64) };
  const ids = [1, 2, 3, 4, 5, 6];

  it("ranks a synthetic capture", async () => {
    const ranking = await analyzeModel(new RunCaptureSession(config, 2), model, ids, options);

    expect(ranking.layers).toHaveLength(1);
    expect([...ranking.layers[0].kvHeads[0].ranking].sort()).toEqual([0, 1]);
    expect(ranking.layers[0].kvHeads[0].objective.at(-1)).toBe(0);
  });

  it("rejects bad options", async () => {
    const session = new RunCaptureSession(config, 2);

    await expect(analyzeModel(session, model, ids, { ...options, strategy: "random" as never })).rejects.toThrow(
      /strategy must be one of ropelite/,
    );
    await expect(analyzeModel(session, model, ids, { ...options, pairs: 0 })).rejects.toThrow(/pairs must be an integer >= 1/);
    await expect(analyzeModel(session, model, ids, { ...options, windowLength: 7 })).rejects.toThrow(
      /has 6 ids, fewer than one window of 7/,
    );
  });

  it("rejects a mismatched or converted model", async () => {
    const other = new RunCaptureSession(syntheticConfig(2, 2, 4), 2);
    const converted = { ...model, elite: { ropeChunksPerHead: 1, layers: [] } } as LoadedModel;

    await expect(analyzeModel(other, model, ids, options)).rejects.toThrow(/session has numKvHeads 2 but the model has 1/);
    await expect(analyzeModel(new RunCaptureSession(config, 2), converted, ids, options)).rejects.toThrow(
      /synthetic.bin is already converted to EliteKV/,
    );
  });
});
