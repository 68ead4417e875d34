// A pool of compute workers driven through a shared control block: the main thread publishes a job
// with Atomics, computes its own share, then waits for the workers. Workers block in Atomics.wait and
// never return to their event loop, so postMessage carries only buffer registrations, which they
// read synchronously with receiveMessageOnPort.
import { MessageChannel, receiveMessageOnPort, type MessagePort, type Worker } from "node:worker_threads";

import { BackendFailureError } from "@elitekv/core";

import {
  controlBlockBytes,
  controlSlot,
  maxElementIndex,
  opcode,
  parameterByteOffset,
  parameterCount,
  runClaimedRanges,
  type PortMessage,
} from "./pool-protocol.js";
import { computeWorkerUrl, launchComputeWorker } from "./worker-launcher.js";

/** A SharedArrayBuffer known to every worker under `id`. */
export interface SharedBufferHandle {
  readonly id: number;
  readonly buffer: SharedArrayBuffer;
  readonly data: Float32Array;
}

/** Time a worker may take to load its modules before start fails, in milliseconds. */
const startTimeoutMs = 60_000;

/**
 * Length of one blocking wait for the workers, in milliseconds. Between waits the main thread yields to
 * the event loop once, so that the exit event of a crashed worker arrives and the job fails.
 */
const waitSliceMs = 5;

interface PoolWorker {
  index: number;
  worker: Worker;
  port: MessagePort;
}

export class ThreadPool {
  readonly workerCount: number;
  private readonly workers: PoolWorker[];
  private readonly control: Int32Array;
  private readonly parameters: Int32Array;
  private nextBufferId = 1;
  private registryVersion = 0;
  private failureError: BackendFailureError | undefined;
  private disposed = false;

  private constructor(control: SharedArrayBuffer, workers: PoolWorker[]) {
    this.workers = workers;
    this.workerCount = workers.length;
    this.control = new Int32Array(control, 0, parameterByteOffset / Int32Array.BYTES_PER_ELEMENT);
    this.parameters = new Int32Array(control, parameterByteOffset, parameterCount);

    for (const entry of workers) {
      entry.worker.on("error", (error) => {
        this.recordFailure(`compute worker ${entry.index} threw: ${error.message}`, error);
      });
      entry.worker.on("exit", (code) => {
        if (!this.disposed) this.recordFailure(`compute worker ${entry.index} exited with code ${code}`);
      });
    }
  }

  /** Starts `workerCount` workers (0 gives a pool that runs every job on the main thread). */
  static async start(workerCount: number): Promise<ThreadPool> {
    const control = new SharedArrayBuffer(controlBlockBytes);
    const workers: PoolWorker[] = [];
    try {
      for (let index = 0; index < workerCount; index++) {
        const channel = new MessageChannel();
        const worker = launchComputeWorker({ workerIndex: index, control, port: channel.port2 }, [channel.port2]);
        workers.push({ index, worker, port: channel.port1 });
      }
      await Promise.all(workers.map(waitUntilReady));
    } catch (error) {
      await Promise.all(workers.map((entry) => entry.worker.terminate()));
      throw error;
    }

    // Unreferenced workers and ports never keep the process alive, even when dispose() is skipped.
    for (const entry of workers) {
      entry.worker.unref();
      entry.port.unref();
    }
    return new ThreadPool(control, workers);
  }

  /** The error that broke the pool. Every later job rejects with it. */
  get failure(): BackendFailureError | undefined {
    return this.failureError;
  }

  /** Shares `buffer` with every worker. Jobs refer to it by the returned handle's id. */
  registerBuffer(buffer: SharedArrayBuffer): SharedBufferHandle {
    const id = this.nextBufferId++;
    if (this.workerCount > 0 && !this.disposed) {
      this.registryVersion++;
      const message: PortMessage = { type: "register", version: this.registryVersion, id, buffer };
      for (const entry of this.workers) entry.port.postMessage(message);
      Atomics.store(this.control, controlSlot.registryVersion, this.registryVersion);
    }
    return { id, buffer, data: new Float32Array(buffer) };
  }

  /** Drops the workers' references to a buffer, so that it can be garbage-collected. */
  releaseBuffer(handle: SharedBufferHandle): void {
    if (this.workerCount === 0 || this.disposed) return;
    this.registryVersion++;
    const message: PortMessage = { type: "release", version: this.registryVersion, id: handle.id };
    for (const entry of this.workers) entry.port.postMessage(message);
    Atomics.store(this.control, controlSlot.registryVersion, this.registryVersion);
  }

  /**
   * Runs one job of `units` work units on `participants` threads (the main thread included, capped at
   * workerCount + 1). Threads claim `grain` units at a time. The main thread runs its claims through
   * `runRange`, and workers derive theirs from the parameters. Jobs must not overlap: the caller serialises
   * them.
   */
  async run(
    job: number,
    parameters: readonly number[],
    units: number,
    grain: number,
    participants: number,
    runRange: (start: number, end: number) => void,
  ): Promise<void> {
    this.assertUsable();
    const active = Math.min(participants, this.workerCount + 1);
    if (active <= 1) {
      runRange(0, units);
      return;
    }

    for (let slot = 0; slot < parameters.length; slot++) {
      const value = parameters[slot];
      if (!Number.isInteger(value) || value < 0 || value > maxElementIndex) {
        throw new BackendFailureError(`job parameter ${slot} is ${value}, outside the int32 range the workers read`);
      }
      this.parameters[slot] = value;
    }
    Atomics.store(this.control, controlSlot.opcode, job);
    Atomics.store(this.control, controlSlot.participants, active);
    Atomics.store(this.control, controlSlot.totalUnits, units);
    Atomics.store(this.control, controlSlot.grainUnits, grain);
    Atomics.store(this.control, controlSlot.nextUnit, 0);
    Atomics.store(this.control, controlSlot.done, 0);
    Atomics.add(this.control, controlSlot.sequence, 1);
    Atomics.notify(this.control, controlSlot.sequence);

    // Workers read the shared buffers until they finish, so wait for them even if the main share throws.
    let mainError: unknown;
    try {
      runClaimedRanges(this.control, runRange);
    } catch (error) {
      mainError = error;
    }
    await this.waitForWorkers();
    if (mainError !== undefined) throw mainError;
  }

  /** Stops the workers. Later jobs reject, but registered buffers stay valid on the main thread. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;

    Atomics.store(this.control, controlSlot.opcode, opcode.shutdown);
    Atomics.add(this.control, controlSlot.sequence, 1);
    Atomics.notify(this.control, controlSlot.sequence);
    await Promise.all(this.workers.map((entry) => entry.worker.terminate()));
    for (const entry of this.workers) entry.port.close();
  }

  private assertUsable(): void {
    if (this.disposed) {
      throw new BackendFailureError("the CPU backend was disposed; create a new backend to run more jobs");
    }
    if (this.failureError !== undefined) throw this.failureError;
  }

  private async waitForWorkers(): Promise<void> {
    for (;;) {
      const done = Atomics.load(this.control, controlSlot.done);
      if (done >= this.workerCount) break;

      const result = Atomics.wait(this.control, controlSlot.done, done, waitSliceMs);
      if (result === "timed-out") {
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.failureError !== undefined) throw this.failureError;
      }
    }

    if (Atomics.load(this.control, controlSlot.failed) !== 0) {
      const messages: string[] = [];
      for (const entry of this.workers) {
        for (let received = receiveMessageOnPort(entry.port); received !== undefined; received = receiveMessageOnPort(entry.port)) {
          const message = received.message as PortMessage;
          if (message.type === "failure") messages.push(`compute worker ${entry.index}: ${message.message}`);
        }
      }
      this.recordFailure(messages.length > 0 ? messages.join("; ") : "a compute worker reported a failure without a message");
      throw this.failureError;
    }
  }

  private recordFailure(message: string, cause?: unknown): void {
    if (this.failureError !== undefined) return;
    this.failureError = new BackendFailureError(
      `${message}; the CPU backend cannot continue, dispose it and create a new one`,
      { file: computeWorkerUrl.href, cause },
    );
  }
}

/** Resolves when the worker has loaded and entered its job loop; rejects if it fails first. */
function waitUntilReady(entry: PoolWorker): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const { worker, index } = entry;
    const cleanUp = () => {
      clearTimeout(timer);
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    };
    const fail = (message: string, cause?: unknown) => {
      cleanUp();
      reject(new BackendFailureError(`compute worker ${index} failed to start: ${message}`, { file: computeWorkerUrl.href, cause }));
    };
    const onMessage = (message: unknown) => {
      if (message !== "ready") return;
      cleanUp();
      resolve();
    };
    const onError = (error: Error) => fail(error.message, error);
    const onExit = (code: number) => fail(`it exited with code ${code} before it was ready`);
    const timer = setTimeout(() => fail(`it was not ready after ${startTimeoutMs} ms`), startTimeoutMs);

    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
  });
}
