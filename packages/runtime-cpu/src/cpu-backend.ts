// The CPU backend: owns the worker pool and the shared weight arenas, and creates sessions. Forward
// passes of all its sessions run one at a time, because they share the pool's control block.
import { availableParallelism } from "node:os";

import {
  BackendFailureError,
  InvalidArgumentError,
  validateEliteKvConfig,
  validateModelConfig,
  type Backend,
  type InferenceSession,
  type LoadedModel,
  type SessionOptions,
} from "@elitekv/core";

import { CpuSession, type SessionHost } from "./cpu-session.js";
import type { DecoderForward } from "./decoder-forward.js";
import { EliteForward } from "./elite-forward.js";
import { EliteKvCache } from "./elite-kv-cache.js";
import { FullKvCache } from "./full-kv-cache.js";
import { LlamaForward } from "./llama-forward.js";
import { ThreadPool, type SharedBufferHandle } from "./thread-pool.js";
import { buildWeightArena, type WeightArena } from "./weight-arena.js";

export interface CpuBackendOptions {
  /**
   * Threads that share each matmul and attention job, the main thread included, so threads - 1 worker
   * threads start with the first session. Defaults to os.availableParallelism(), one thread per core,
   * because the kernels are compute-bound: SmolLM2-135M prefill ran about 1.8 times faster on 2 threads
   * than on 1 on a 2-core VM. Threads claim rows as they go, so one slowed by other load takes fewer.
   * SessionOptions.threads can lower it for one session.
   */
  threads?: number;
  /**
   * Tokens a prefill runs per forward chunk. It sizes the scratch buffers, whose largest part is
   * chunkTokens × vocabSize float32 logits. Defaults to 64.
   */
  chunkTokens?: number;
}

/** Upper bound of `threads`: a check against typing errors, not a tuned limit. */
const maxThreads = 256;

const defaultChunkTokens = 64;

/** Returns the default thread count: os.availableParallelism(), at most maxThreads. */
export function defaultThreadCount(): number {
  return Math.min(availableParallelism(), maxThreads);
}

/** A model's weight arena, shared by its open sessions and released with the last one. */
interface ArenaEntry {
  arena: WeightArena;
  handle: SharedBufferHandle;
  sessions: number;
}

class CpuBackend implements Backend, SessionHost {
  readonly name = "cpu";
  readonly threads: number;
  private readonly chunkTokens: number;
  private poolStart: Promise<ThreadPool> | undefined;
  private readonly arenas = new Map<LoadedModel, ArenaEntry>();
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(options: CpuBackendOptions) {
    this.threads = validateCount(options.threads ?? defaultThreadCount(), "threads", maxThreads);
    this.chunkTokens = validateCount(options.chunkTokens ?? defaultChunkTokens, "chunkTokens");
  }

  async createSession(model: LoadedModel, options: SessionOptions = {}): Promise<InferenceSession> {
    this.assertUsable();
    const config = validateModelConfig(model.config, model.source?.path);
    const capacity = validateCount(options.maxContext ?? config.maxPositionEmbeddings, "maxContext");
    const threads = options.threads ?? this.threads;
    if (!Number.isInteger(threads) || threads < 1 || threads > this.threads) {
      throw new InvalidArgumentError(
        `session threads must be an integer in [1, ${this.threads}], got ${String(threads)}; ` +
          "create the backend with createCpuBackend({ threads }) to use more",
        { field: "threads" },
      );
    }

    const elite = model.elite === undefined ? undefined : validateEliteKvConfig(config, model.elite, model.source?.path);

    const pool = await this.startPool();
    this.assertUsable();
    const entry = this.acquireArena(model, pool);
    const chunkTokens = Math.min(this.chunkTokens, capacity);
    let fullCache: FullKvCache | undefined;
    let eliteCache: EliteKvCache | undefined;
    try {
      let cache: FullKvCache | EliteKvCache;
      let forward: DecoderForward;
      if (elite === undefined) {
        fullCache = new FullKvCache(config, capacity, pool);
        cache = fullCache;
        forward = new LlamaForward(config, entry.arena, entry.handle, fullCache, pool, threads, chunkTokens);
      } else {
        eliteCache = new EliteKvCache(config, elite, capacity, pool);
        cache = eliteCache;
        forward = new EliteForward(config, elite, entry.arena, entry.handle, cache, pool, threads, chunkTokens);
      }
      const ownCache = cache;
      return new CpuSession(this, config, cache, forward, () => {
        forward.release();
        ownCache.release(pool);
        this.releaseArena(model, pool);
      });
    } catch (error) {
      fullCache?.release(pool);
      eliteCache?.release(pool);
      this.releaseArena(model, pool);
      throw error;
    }
  }

  exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  assertUsable(): void {
    if (this.disposed) throw new BackendFailureError("the CPU backend was disposed; create a new backend");
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue;
    this.arenas.clear();
    if (this.poolStart !== undefined) {
      const pool = await this.poolStart.catch(() => undefined);
      await pool?.dispose();
    }
  }

  private startPool(): Promise<ThreadPool> {
    if (this.poolStart === undefined) {
      const start = ThreadPool.start(this.threads - 1);
      // A failed start is not cached, so that a later session can retry.
      start.catch(() => {
        if (this.poolStart === start) this.poolStart = undefined;
      });
      this.poolStart = start;
    }
    return this.poolStart;
  }

  private acquireArena(model: LoadedModel, pool: ThreadPool): ArenaEntry {
    let entry = this.arenas.get(model);
    if (entry === undefined) {
      const arena = buildWeightArena(model);
      entry = { arena, handle: pool.registerBuffer(arena.buffer), sessions: 0 };
      this.arenas.set(model, entry);
    }
    entry.sessions++;
    return entry;
  }

  private releaseArena(model: LoadedModel, pool: ThreadPool): void {
    const entry = this.arenas.get(model);
    if (entry === undefined) return;
    entry.sessions--;
    if (entry.sessions === 0) {
      pool.releaseBuffer(entry.handle);
      this.arenas.delete(model);
    }
  }
}

/** Returns `value` when it is an integer in [1, max], or throws InvalidArgumentError naming `field`. */
function validateCount(value: number, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? "a positive integer" : `an integer in [1, ${max}]`;
    throw new InvalidArgumentError(`${field} must be ${range}, got ${String(value)}`, { field });
  }
  return value;
}

/** Creates the reference CPU backend. Worker threads start with the first session, not here. */
export function createCpuBackend(options: CpuBackendOptions = {}): Backend {
  return new CpuBackend(options);
}
