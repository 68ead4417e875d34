import { InvalidArgumentError, type Logits } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import {
  compareLogits,
  klDivergence,
  logitsRow,
  logSoftmax,
  nextTokenNlls,
  tokenNll,
  topTokenAgreement,
} from "../src/index.js";

function logitsOf(rows: number[][]): Logits {
  const vocabSize = rows[0].length;
  return { rows: rows.length, vocabSize, data: Float32Array.from(rows.flat()) };
}

describe("tokenNll", () => {
  it("matches a hand computation", () => {
    // softmax([0, ln 3]) = [1/4, 3/4].
    const logits = logitsOf([[0, Math.log(3)]]);

    expect(tokenNll(logits, 0, 0)).toBeCloseTo(Math.log(4), 6);
    expect(tokenNll(logits, 0, 1)).toBeCloseTo(Math.log(4 / 3), 6);
  });

  it("stays finite for large logits", () => {
    const logits = logitsOf([[1000, 1000, -1000]]);

    expect(tokenNll(logits, 0, 0)).toBeCloseTo(Math.log(2), 10);
    expect(tokenNll(logits, 0, 2)).toBeCloseTo(2000 + Math.log(2), 6);
  });

  it("rejects a target outside the vocabulary", () => {
    const logits = logitsOf([[0, 0]]);

    expect(() => tokenNll(logits, 0, 2)).toThrow(InvalidArgumentError);
    expect(() => tokenNll(logits, 0, -1)).toThrow(/target token id -1/);
    expect(() => tokenNll(logits, 1, 0)).toThrow(/row 1 is outside the logits, which have 1 rows/);
  });
});

describe("nextTokenNlls", () => {
  it("pairs row i with id i + 1", () => {
    // Row 0 strongly predicts 1 and row 1 strongly predicts 0; the last row is never scored.
    const logits = logitsOf([
      [0, 20, 0],
      [20, 0, 0],
      [0, 0, 20],
    ]);

    const nlls = nextTokenNlls(logits, [2, 1, 0]);

    expect(nlls).toHaveLength(2);
    expect(nlls[0]).toBeCloseTo(Math.log(1 + 2 * Math.exp(-20)), 9);
    expect(nlls[1]).toBeCloseTo(Math.log(1 + 2 * Math.exp(-20)), 9);
    expect(nextTokenNlls(logits, [2, 0, 1])[0]).toBeCloseTo(20 + Math.log(1 + 2 * Math.exp(-20)), 5);
  });

  it("rejects a row count that differs from the ids", () => {
    const logits = logitsOf([[0, 0]]);

    expect(() => nextTokenNlls(logits, [0, 1])).toThrow(/logits have 1 rows but 2 ids were given/);
  });
});

describe("klDivergence", () => {
  it("matches a hand computation", () => {
    // P = [1/2, 1/2], Q = [1/4, 3/4]: KL = 1/2 ln 2 + 1/2 ln(2/3) = 1/2 ln(4/3).
    expect(klDivergence([0, 0], [0, Math.log(3)])).toBeCloseTo(0.5 * Math.log(4 / 3), 12);
  });

  it("is zero for identical and shifted rows", () => {
    expect(klDivergence([1, 2, 3], [1, 2, 3])).toBe(0);
    expect(klDivergence([1, 2, 3], [11, 12, 13])).toBeCloseTo(0, 12);
  });

  it("handles zero probabilities", () => {
    expect(klDivergence([0, -Infinity], [0, 0])).toBeCloseTo(Math.log(2), 12);
    expect(klDivergence([0, 0], [0, -Infinity])).toBe(Infinity);
  });

  it("rejects rows of different length", () => {
    expect(() => klDivergence([0, 0], [0, 0, 0])).toThrow(InvalidArgumentError);
  });
});

describe("logSoftmax", () => {
  it("matches a hand computation", () => {
    const result = logSoftmax([0, Math.log(3)]);

    expect(result[0]).toBeCloseTo(Math.log(1 / 4), 12);
    expect(result[1]).toBeCloseTo(Math.log(3 / 4), 12);
  });
});

describe("topTokenAgreement", () => {
  it("compares argmax ids", () => {
    expect(topTokenAgreement([1, 3, 2], [0, 5, 1])).toBe(true);
    expect(topTokenAgreement([1, 3, 2], [9, 0, 0])).toBe(false);
  });

  it("breaks ties toward the lowest id", () => {
    expect(topTokenAgreement([1, 1], [1, 0])).toBe(true);
    expect(topTokenAgreement([1, 1], [0, 1])).toBe(false);
  });
});

describe("compareLogits", () => {
  it("aggregates rows", () => {
    const reference = logitsOf([
      [0, 0],
      [5, 0],
    ]);
    const candidate = logitsOf([
      [0, Math.log(3)],
      [5, 0],
    ]);

    const comparison = compareLogits(reference, candidate);

    expect(comparison.rows).toBe(2);
    expect(comparison.maxKlDivergence).toBeCloseTo(0.5 * Math.log(4 / 3), 7);
    expect(comparison.meanKlDivergence).toBeCloseTo(0.25 * Math.log(4 / 3), 7);
    // Row 0 ties in the reference (argmax 0) but favours 1 in the candidate.
    expect(comparison.top1Agreement).toBe(0.5);
  });

  it("rejects different shapes", () => {
    const reference = logitsOf([[0, 0]]);
    const candidate = logitsOf([[0, 0, 0]]);

    expect(() => compareLogits(reference, candidate)).toThrow(/reference is \[1, 2\], candidate is \[1, 3\]/);
  });
});

describe("logitsRow", () => {
  it("returns a view of one row", () => {
    const logits = logitsOf([
      [1, 2],
      [3, 4],
    ]);

    expect(Array.from(logitsRow(logits, 1))).toEqual([3, 4]);
    expect(() => logitsRow(logits, 2)).toThrow(InvalidArgumentError);
  });
});
