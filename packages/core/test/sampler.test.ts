import { describe, expect, it } from "vitest";

import { argmax, createRandom, InvalidArgumentError, Sampler } from "../src/index.js";

describe("argmax", () => {
  it("takes the lowest id on ties", () => {
    expect(argmax(new Float32Array([1, 5, 5, 2]))).toBe(1);
  });

  it("reads a row at an offset", () => {
    expect(argmax(new Float32Array([9, 9, 0, 3, 1]), 2, 3)).toBe(1);
  });
});

describe("Sampler", () => {
  const logits = new Float32Array([2, 1, 0.5, -1, 3]);

  it("is greedy at temperature zero", () => {
    expect(new Sampler().sample(logits, 0, 5)).toBe(4);
  });

  it("repeats a sequence for the same seed", () => {
    const first = new Sampler({ temperature: 1, seed: 7 });
    const second = new Sampler({ temperature: 1, seed: 7 });
    const a = Array.from({ length: 50 }, () => first.sample(logits, 0, 5));
    const b = Array.from({ length: 50 }, () => second.sample(logits, 0, 5));
    expect(a).toEqual(b);
    expect(new Set(a).size).toBeGreaterThan(1);
  });

  it("follows the softmax distribution", () => {
    const sampler = new Sampler({ temperature: 1, seed: 3 });
    const counts = new Array(5).fill(0);
    const draws = 20000;
    for (let i = 0; i < draws; i++) counts[sampler.sample(logits, 0, 5)]++;
    const weights = Array.from(logits, (value) => Math.exp(value));
    const total = weights.reduce((sum, value) => sum + value, 0);
    for (let id = 0; id < 5; id++) {
      expect(Math.abs(counts[id] / draws - weights[id] / total)).toBeLessThan(0.015);
    }
  });

  it("restricts draws to the top-p nucleus", () => {
    // Probabilities (T=1): id 4 ≈ 0.61, id 0 ≈ 0.22; top-p 0.7 keeps exactly those two.
    const sampler = new Sampler({ temperature: 1, topP: 0.7, seed: 11 });
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(sampler.sample(logits, 0, 5));
    expect([...seen].sort()).toEqual([0, 4]);
  });

  it("never samples ids beyond the allowed vocabulary", () => {
    const sampler = new Sampler({ temperature: 2, seed: 5, allowedVocabSize: 3 });
    for (let i = 0; i < 500; i++) expect(sampler.sample(logits, 0, 5)).toBeLessThan(3);
  });

  it("rejects invalid settings", () => {
    expect(() => new Sampler({ temperature: -1 })).toThrow(InvalidArgumentError);
    expect(() => new Sampler({ topP: 0 })).toThrow(/top-p/);
  });
});

describe("createRandom", () => {
  it("yields values in [0, 1) with a plausible mean", () => {
    const random = createRandom(42);
    let sum = 0;
    for (let i = 0; i < 10000; i++) {
      const value = random.next();
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThan(1);
      sum += value;
    }
    expect(Math.abs(sum / 10000 - 0.5)).toBeLessThan(0.02);
  });
});
