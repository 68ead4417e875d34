import { InvalidArgumentError } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { sampleCalibrationWindows, sampleCausalPairs } from "../src/index.js";

const stream = Array.from({ length: 300 }, (_, i) => 1000 + i);

describe("sampleCalibrationWindows", () => {
  it("cuts consecutive ids from the stream", () => {
    const windows = sampleCalibrationWindows(stream, { windows: 5, length: 32, seed: 7 });

    expect(windows).toHaveLength(5);
    for (const window of windows) {
      expect(window).toHaveLength(32);
      const start = window[0] - 1000;
      expect(window).toEqual(stream.slice(start, start + 32));
    }
  });

  it("is deterministic for a seed", () => {
    const first = sampleCalibrationWindows(stream, { windows: 4, length: 16, seed: 3 });
    const second = sampleCalibrationWindows(stream, { windows: 4, length: 16, seed: 3 });
    const other = sampleCalibrationWindows(stream, { windows: 4, length: 16, seed: 4 });

    expect(second).toEqual(first);
    expect(other).not.toEqual(first);
  });

  it("takes the whole stream when it is one window long", () => {
    expect(sampleCalibrationWindows(stream.slice(0, 10), { windows: 2, length: 10, seed: 1 })).toEqual([
      stream.slice(0, 10),
      stream.slice(0, 10),
    ]);
  });

  it("rejects a stream shorter than a window", () => {
    expect(() => sampleCalibrationWindows(stream.slice(0, 9), { windows: 1, length: 10, seed: 1 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => sampleCalibrationWindows(stream, { windows: 0, length: 10, seed: 1 })).toThrow(/windows must be/);
    expect(() => sampleCalibrationWindows(stream, { windows: 1, length: 10, seed: -1 })).toThrow(/seed must be/);
  });
});

describe("sampleCausalPairs", () => {
  it("draws causal pairs inside the window", () => {
    const pairs = sampleCausalPairs(3, 20, 500, 9);

    expect(pairs).toHaveLength(3);
    for (const list of pairs) {
      expect(list).toHaveLength(1000);
      for (let p = 0; p < 500; p++) {
        expect(list[2 * p + 1]).toBeGreaterThanOrEqual(0);
        expect(list[2 * p + 1]).toBeLessThanOrEqual(list[2 * p]);
        expect(list[2 * p]).toBeLessThan(20);
      }
    }
  });

  it("reaches every causal pair of a small window", () => {
    // 4 positions have 10 causal pairs, and 2000 uniform draws miss one with probability below 1e-90.
    const [list] = sampleCausalPairs(1, 4, 2000, 5);
    const seen = new Set<string>();
    for (let p = 0; p < 2000; p++) seen.add(`${list[2 * p]},${list[2 * p + 1]}`);

    expect(seen.size).toBe(10);
  });

  it("is deterministic for a seed", () => {
    expect(sampleCausalPairs(2, 64, 100, 1)).toEqual(sampleCausalPairs(2, 64, 100, 1));
    expect(sampleCausalPairs(2, 64, 100, 2)).not.toEqual(sampleCausalPairs(2, 64, 100, 1));
  });
});
