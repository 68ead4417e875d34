// Memory bandwidth measured by copying: large Float32Array copies with TypedArray.prototype.set, on
// one thread or split over worker threads, counting the bytes read plus the bytes written. It is the
// bandwidth side of the decode roofline.
import { Worker } from "node:worker_threads";

import { InvalidArgumentError } from "@elitekv/core";

import { summarize, type Summary } from "./statistics.js";

export interface CopyBandwidthOptions {
  /** Bytes of the source buffer, split evenly over the threads. Defaults to 256 MiB, larger than the last-level cache of common CPUs. */
  bytes?: number;
  /** Timed copies. Defaults to 7. */
  runs?: number;
  /** Threads that copy at once, each its own slice in its own buffers. Defaults to 1 (the calling thread). */
  threads?: number;
}

export interface CopyBandwidth {
  threads: number;
  /** Source bytes copied per run, over all threads. */
  bytesPerCopy: number;
  /** Bytes counted per run: bytesPerCopy read plus bytesPerCopy written. */
  countedBytesPerRun: number;
  /** countedBytesPerRun / seconds / 1e9 of each run. */
  gigabytesPerSecond: Summary;
  method: string;
}

const defaultBytes = 256 * 1024 * 1024;
const defaultRuns = 7;

const method =
  "TypedArray.prototype.set between two Float32Array buffers per thread, buffers touched before timing; " +
  "GB/s = (bytes read + bytes written) / seconds / 1e9. Write-allocate reads of the destination are not counted, " +
  "so the bus may move up to 1.5 times the counted bytes";

/** Measures copy bandwidth. Throws InvalidArgumentError for a size, run count or thread count below 1. */
export async function measureCopyBandwidth(options: CopyBandwidthOptions = {}): Promise<CopyBandwidth> {
  const threads = options.threads ?? 1;
  const runs = options.runs ?? defaultRuns;
  const bytes = options.bytes ?? defaultBytes;
  requirePositiveInteger(threads, "threads");
  requirePositiveInteger(runs, "runs");
  requirePositiveInteger(bytes, "bytes");

  // Every thread copies the same whole number of float32 elements.
  const elementsPerThread = Math.max(1, Math.floor(bytes / Float32Array.BYTES_PER_ELEMENT / threads));
  const bytesPerCopy = elementsPerThread * Float32Array.BYTES_PER_ELEMENT * threads;

  const seconds = threads === 1 ? copyOnCallingThread(elementsPerThread, runs) : await copyOnWorkers(elementsPerThread, threads, runs);
  const countedBytesPerRun = 2 * bytesPerCopy;
  return {
    threads,
    bytesPerCopy,
    countedBytesPerRun,
    gigabytesPerSecond: summarize(seconds.map((value) => countedBytesPerRun / value / 1e9)),
    method,
  };
}

function copyOnCallingThread(elements: number, runs: number): number[] {
  const source = new Float32Array(elements);
  const target = new Float32Array(elements);

  // Writing both buffers maps their pages, so page faults stay out of the timed copies.
  for (let i = 0; i < elements; i++) source[i] = i & 1023;
  target.set(source);

  const seconds: number[] = [];
  for (let run = 0; run < runs; run++) {
    const start = performance.now();
    target.set(source);
    seconds.push((performance.now() - start) / 1000);
  }
  return seconds;
}

// Plain JavaScript, run with `eval`, so that the worker needs no TypeScript loader. Each worker owns
// ordinary (not shared) buffers, because V8 copies shared typed arrays with relaxed atomic word copies
// that are slower than memmove and would understate the bandwidth.
const workerSource = `
const { parentPort, workerData } = require("node:worker_threads");
const source = new Float32Array(workerData.elements);
const target = new Float32Array(workerData.elements);
for (let i = 0; i < source.length; i++) source[i] = i & 1023;
target.set(source);
parentPort.on("message", () => {
  target.set(source);
  parentPort.postMessage("done");
});
parentPort.postMessage("ready");
`;

async function copyOnWorkers(elements: number, threads: number, runs: number): Promise<number[]> {
  const workers: Worker[] = [];
  try {
    const ready: Promise<void>[] = [];
    for (let index = 0; index < threads; index++) {
      const worker = new Worker(workerSource, { eval: true, workerData: { elements } });
      workers.push(worker);
      ready.push(nextMessage(worker));
    }
    await Promise.all(ready);

    // One run lasts from the start signal until the slowest worker finishes its slice.
    const seconds: number[] = [];
    for (let run = 0; run < runs; run++) {
      const done = workers.map((worker) => nextMessage(worker));
      const start = performance.now();
      for (const worker of workers) worker.postMessage("copy");
      await Promise.all(done);
      seconds.push((performance.now() - start) / 1000);
    }
    return seconds;
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

function nextMessage(worker: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = () => {
      worker.off("error", onError);
      resolve();
    };
    const onError = (error: Error) => {
      worker.off("message", onMessage);
      reject(error);
    };
    worker.once("message", onMessage);
    worker.once("error", onError);
  });
}

function requirePositiveInteger(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${field} must be a positive integer, got ${String(value)}`, { field });
  }
}
