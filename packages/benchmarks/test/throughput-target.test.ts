import { describe, expect, it } from "vitest";

import { evaluateThroughputTarget } from "../src/index.js";

describe("evaluateThroughputTarget", () => {
  const base = { name: "t", description: "a >= 1.4 x b", required: 1.4, missingReason: "b was not measured" };

  it("passes at or above the required ratio", () => {
    const target = evaluateThroughputTarget({ ...base, measured: 14, reference: 10 });
    expect(target.ratio).toBeCloseTo(1.4, 12);
    expect(target.pass).toBe(true);
    expect(target.reason).toBeUndefined();
  });

  it("fails below the required ratio", () => {
    const target = evaluateThroughputTarget({ ...base, measured: 13, reference: 10 });
    expect(target.ratio).toBeCloseTo(1.3, 12);
    expect(target.pass).toBe(false);
  });

  it("reports null and the reason for a missing side", () => {
    const target = evaluateThroughputTarget({ ...base, measured: 13, reference: undefined });
    expect(target.pass).toBeNull();
    expect(target.ratio).toBeNull();
    expect(target.measured).toBe(13);
    expect(target.reference).toBeNull();
    expect(target.reason).toBe("b was not measured");
  });

  it("treats a zero reference as missing", () => {
    expect(evaluateThroughputTarget({ ...base, measured: 1, reference: 0 }).pass).toBeNull();
  });
});
