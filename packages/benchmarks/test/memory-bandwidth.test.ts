import { InvalidArgumentError } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { measureCopyBandwidth } from "../src/index.js";

describe("measureCopyBandwidth", () => {
  it("counts read and written bytes on one thread", async () => {
    const result = await measureCopyBandwidth({ bytes: 1 << 20, runs: 3 });
    expect(result.threads).toBe(1);
    expect(result.bytesPerCopy).toBe(1 << 20);
    expect(result.countedBytesPerRun).toBe(2 << 20);
    expect(result.gigabytesPerSecond.runs).toBe(3);
    expect(result.gigabytesPerSecond.median).toBeGreaterThan(0);
    expect(Number.isFinite(result.gigabytesPerSecond.max)).toBe(true);
  });

  it("splits whole elements over worker threads", async () => {
    // 1000 bytes over 3 threads: floor(250 / 3) = 83 float32 elements each, 996 bytes in all.
    const result = await measureCopyBandwidth({ bytes: 1000, runs: 2, threads: 3 });
    expect(result.threads).toBe(3);
    expect(result.bytesPerCopy).toBe(996);
    expect(result.countedBytesPerRun).toBe(1992);
    expect(result.gigabytesPerSecond.runs).toBe(2);
  });

  it("rejects counts below one", async () => {
    await expect(measureCopyBandwidth({ runs: 0 })).rejects.toThrow(InvalidArgumentError);
    await expect(measureCopyBandwidth({ threads: 0 })).rejects.toThrow(InvalidArgumentError);
    await expect(measureCopyBandwidth({ bytes: 0.5 })).rejects.toThrow(InvalidArgumentError);
  });
});
