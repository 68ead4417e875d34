import { describe, expect, it } from "vitest";

import {
  applyRope,
  buildRopeTable,
  permuteInterleavedRows,
  ropeInverseFrequencies,
  type ModelConfig,
  type RopeConfig,
} from "../src/index.js";

const llama3Rope: RopeConfig = {
  theta: 500000,
  rotaryDim: 64,
  sourceLayout: "half",
  scaling: { type: "llama3", factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
};

function plainFrequency(theta: number, rotaryDim: number, j: number): number {
  return 1 / Math.pow(theta, (2 * j) / rotaryDim);
}

function tinyConfig(headDim: number, theta: number): ModelConfig {
  return {
    architecture: "llama",
    hiddenSize: headDim,
    intermediateSize: 4,
    numLayers: 1,
    numHeads: 1,
    numKvHeads: 1,
    headDim,
    vocabSize: 4,
    maxPositionEmbeddings: 16384,
    rmsNormEps: 1e-5,
    rope: { theta, rotaryDim: headDim, sourceLayout: "half", scaling: { type: "none" } },
    tieWordEmbeddings: true,
    bosTokenId: null,
    eosTokenIds: [],
  };
}

describe("llama3 rope scaling", () => {
  const frequencies = ropeInverseFrequencies(llama3Rope);

  it("keeps pairs 0 to 14 unchanged", () => {
    for (let j = 0; j <= 14; j++) {
      expect(frequencies[j]).toBeCloseTo(plainFrequency(500000, 64, j), 15);
    }
  });

  it("interpolates pairs 15 to 17", () => {
    for (let j = 15; j <= 17; j++) {
      const plain = plainFrequency(500000, 64, j);
      expect(frequencies[j]).toBeLessThan(plain);
      expect(frequencies[j]).toBeGreaterThan(plain / 32);
    }
  });

  it("divides pairs 18 to 31 by the factor", () => {
    for (let j = 18; j <= 31; j++) {
      expect(frequencies[j]).toBeCloseTo(plainFrequency(500000, 64, j) / 32, 15);
    }
  });

  it("matches the reference smoothing formula", () => {
    // Reference: smooth = (8192 / wavelength - 1) / (4 - 1); f = (1 - smooth) f / 32 + smooth f.
    for (let j = 15; j <= 17; j++) {
      const plain = plainFrequency(500000, 64, j);
      const smooth = (8192 / ((2 * Math.PI) / plain) - 1) / 3;
      expect(frequencies[j]).toBeCloseTo((1 - smooth) * (plain / 32) + smooth * plain, 15);
    }
  });
});

describe("linear rope scaling", () => {
  it("divides every frequency by the factor", () => {
    const scaled = ropeInverseFrequencies({ ...llama3Rope, scaling: { type: "linear", factor: 4 } });
    for (let j = 0; j < 32; j++) {
      expect(scaled[j]).toBeCloseTo(plainFrequency(500000, 64, j) / 4, 15);
    }
  });
});

describe("rope table precision", () => {
  const table = buildRopeTable(tinyConfig(128, 10000), 16000);

  it("keeps positions 256 and 257 distinct", () => {
    expect(table.cos[256 * 64]).not.toBe(table.cos[257 * 64]);
  });

  it("matches float64 phases at large positions", () => {
    for (const position of [255, 256, 257, 4095, 15962]) {
      for (let j = 0; j < 64; j++) {
        const angle = position * plainFrequency(10000, 128, j);
        expect(Math.abs(table.cos[position * 64 + j] - Math.cos(angle))).toBeLessThan(1e-9);
        expect(Math.abs(table.sin[position * 64 + j] - Math.sin(angle))).toBeLessThan(1e-9);
      }
    }
  });
});

describe("applyRope", () => {
  it("rotates chunk j as the pair (j, j + h/2)", () => {
    const table = buildRopeTable(tinyConfig(4, 10000), 8);
    const vector = new Float64Array([1, 2, 3, 4]);
    applyRope(vector, 0, 4, 3, table);
    const angle0 = 3;
    const angle1 = 3 * plainFrequency(10000, 4, 1);
    expect(vector[0]).toBeCloseTo(1 * Math.cos(angle0) - 3 * Math.sin(angle0), 12);
    expect(vector[2]).toBeCloseTo(1 * Math.sin(angle0) + 3 * Math.cos(angle0), 12);
    expect(vector[1]).toBeCloseTo(2 * Math.cos(angle1) - 4 * Math.sin(angle1), 12);
    expect(vector[3]).toBeCloseTo(2 * Math.sin(angle1) + 4 * Math.cos(angle1), 12);
  });

  it("leaves chunks outside the keep mask unrotated", () => {
    const table = buildRopeTable(tinyConfig(4, 10000), 8);
    const vector = new Float64Array([1, 2, 3, 4]);
    applyRope(vector, 0, 4, 5, table, [false, true]);
    expect(vector[0]).toBe(1);
    expect(vector[2]).toBe(3);
    expect(vector[1]).not.toBe(2);
  });

  it("preserves the dot product at equal positions", () => {
    const table = buildRopeTable(tinyConfig(8, 10000), 64);
    const q = new Float64Array([0.3, -1, 2, 0.5, 1.5, -0.2, 0.7, 1]);
    const k = new Float64Array([1, 0.25, -0.5, 2, -1, 0.3, 0.9, -0.4]);
    const dot = (a: Float64Array, b: Float64Array) => a.reduce((sum, value, i) => sum + value * b[i], 0);
    const before = dot(q, k);
    applyRope(q, 0, 8, 37, table);
    applyRope(k, 0, 8, 37, table);
    expect(dot(q, k)).toBeCloseTo(before, 12);
  });
});

describe("permuteInterleavedRows", () => {
  it("moves interleaved pairs to the half layout per head", () => {
    // Two heads of head dim 4, one column: interleaved rows (a0, b0, a1, b1) become (a0, a1, b0, b1).
    const weight = new Float32Array([10, 11, 12, 13, 20, 21, 22, 23]);
    const permuted = permuteInterleavedRows(weight, 2, 4, 1);
    expect(Array.from(permuted)).toEqual([10, 12, 11, 13, 20, 22, 21, 23]);
  });
});
