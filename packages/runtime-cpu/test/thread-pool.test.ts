import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Worker } from "node:worker_threads";

import { describe, expect, it } from "vitest";

import { BackendFailureError } from "@elitekv/core";
import { maxAbsDifference } from "@elitekv/vitest-config/matchers";

import { matmulRowRange } from "../src/matmul-kernel.js";
import { parallelMatmul } from "../src/parallel-ops.js";
import { controlSlot, runClaimedRanges } from "../src/pool-protocol.js";
import { ThreadPool } from "../src/thread-pool.js";

function randomMatrix(length: number, seed: number): Float32Array {
  const data = new Float32Array(new SharedArrayBuffer(length * 4));
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    data[i] = state / 2147483648 - 0.5;
  }
  return data;
}

/** Returns the pool's worker threads, so that a test can kill one from outside. */
function poolWorkers(pool: ThreadPool): Worker[] {
  return (pool as unknown as { workers: Array<{ worker: Worker }> }).workers.map((entry) => entry.worker);
}

describe("runClaimedRanges", () => {
  it.each([
    [100, 8],
    [7, 8],
    [64, 16],
    [9, 1],
  ])("claims %i units in grains of %i", (total, grain) => {
    const control = new Int32Array(new SharedArrayBuffer(64));
    control[controlSlot.totalUnits] = total;
    control[controlSlot.grainUnits] = grain;
    const ranges: Array<[number, number]> = [];

    runClaimedRanges(control, (start, end) => ranges.push([start, end]));

    expect(ranges[0][0]).toBe(0);
    expect(ranges[ranges.length - 1][1]).toBe(total);
    for (let index = 1; index < ranges.length; index++) {
      expect(ranges[index][0]).toBe(ranges[index - 1][1]);
      expect(ranges[index][0] % grain).toBe(0);
    }
  });
});

describe("matmulRowRange", () => {
  it.each([
    [1, 19, 13],
    [4, 16, 8],
    [7, 33, 21],
  ])("matches a float64 product for %i tokens", (tokens, inFeatures, outFeatures) => {
    const input = randomMatrix(tokens * inFeatures, 1);
    const weight = randomMatrix(outFeatures * inFeatures, 2);
    const out = new Float32Array(tokens * outFeatures + 3);

    matmulRowRange(out, 3, input, 0, weight, 0, tokens, inFeatures, outFeatures, 0, outFeatures);

    for (let t = 0; t < tokens; t++) {
      for (let o = 0; o < outFeatures; o++) {
        let expected = 0;
        for (let i = 0; i < inFeatures; i++) expected += input[t * inFeatures + i] * weight[o * inFeatures + i];
        expect(out[3 + t * outFeatures + o]).toBe(Math.fround(expected));
      }
    }
  });
});

describe("thread pool", () => {
  it("splits a matmul across workers", async () => {
    const pool = await ThreadPool.start(2);
    const [tokens, inFeatures, outFeatures] = [5, 96, 200];
    const input = pool.registerBuffer(randomMatrix(tokens * inFeatures, 3).buffer as SharedArrayBuffer);
    const weight = pool.registerBuffer(randomMatrix(outFeatures * inFeatures, 4).buffer as SharedArrayBuffer);
    const out = pool.registerBuffer(new SharedArrayBuffer(tokens * outFeatures * 4));
    const expected = new Float32Array(tokens * outFeatures);
    matmulRowRange(expected, 0, input.data, 0, weight.data, 0, tokens, inFeatures, outFeatures, 0, outFeatures);

    await parallelMatmul(pool, 3, { handle: out, offset: 0 }, { handle: input, offset: 0 }, { handle: weight, offset: 0 }, tokens, inFeatures, outFeatures);

    expect(maxAbsDifference(out.data, expected)).toBe(0);
    await pool.dispose();
  });

  it("turns a failing job into BackendFailureError", async () => {
    const pool = await ThreadPool.start(1);

    const unknownJob = pool.run(99, [], 1, 1, 2, () => {});

    await expect(unknownJob).rejects.toBeInstanceOf(BackendFailureError);
    await expect(unknownJob).rejects.toThrow("unknown job opcode 99");
    await expect(pool.run(99, [], 1, 1, 2, () => {})).rejects.toBeInstanceOf(BackendFailureError);
    await pool.dispose();
  });

  it("reports a worker that died instead of hanging", async () => {
    const pool = await ThreadPool.start(1);
    await poolWorkers(pool)[0].terminate();
    const input = pool.registerBuffer(new SharedArrayBuffer(256 * 256 * 4));

    const job = parallelMatmul(pool, 2, { handle: input, offset: 0 }, { handle: input, offset: 0 }, { handle: input, offset: 0 }, 1, 256, 256);

    await expect(job).rejects.toBeInstanceOf(BackendFailureError);
    await expect(job).rejects.toThrow("compute worker 0 exited with code 1");
    await pool.dispose();
  });

  it("stops its workers on dispose", async () => {
    const pool = await ThreadPool.start(2);
    const exits = poolWorkers(pool).map((worker) => new Promise<number>((resolve) => worker.once("exit", resolve)));

    await pool.dispose();

    await expect(Promise.all(exits)).resolves.toHaveLength(2);
    await expect(pool.run(1, [], 1, 1, 3, () => {})).rejects.toThrow("disposed");
  });

  it("lets the process exit without dispose", async () => {
    const script = fileURLToPath(new URL("./support/undisposed-backend.ts", import.meta.url));
    const child = spawn(process.execPath, ["--conditions=elitekv-source", "--import", "tsx", script], {
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);

    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.on("exit", (exitCode, exitSignal) => resolve([exitCode, exitSignal])),
    );
    clearTimeout(timer);

    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(output).toContain("logits 64");
  });
});
