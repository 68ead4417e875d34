// The decode benchmark on one session: timed prefills of one chunk from position 0, then for each
// context a real prefill in chunks up to that context and timed runs of single-token decodes. Every
// id comes from one text stream, so the cache always contains a prefix of real text.
import { InvalidArgumentError, silentProgress, type InferenceSession, type ProgressListener } from "@elitekv/core";

import { summarize, type Summary } from "./statistics.js";

export interface DecodeHarnessOptions {
  /** Cache lengths to decode at, in tokens, measured in ascending order. */
  contexts: readonly number[];
  /** Decode steps per timed run (D). */
  decodeSteps: number;
  /** Timed runs per context. */
  runs: number;
  /** Untimed decode steps before the runs at each context. */
  warmupSteps: number;
  /** Tokens per prefill call, both for the timed prefills and for reaching each context. */
  prefillChunk: number;
  /** Timed prefills of one chunk from position 0, after one untimed prefill of that chunk. */
  prefillRuns: number;
  onProgress?: ProgressListener;
}

export interface PrefillMeasurement {
  /** Tokens per timed prefill. Each starts at position 0 with an empty cache. */
  chunkTokens: number;
  /** Rows of logits each prefill returned ("last": one row). */
  logits: "last";
  tokensPerSecond: Summary;
}

/** One stretch of prefill that brought the cache from one length to another. */
export interface PrefillStretch {
  fromPosition: number;
  toPosition: number;
  chunks: number;
  seconds: number;
}

export interface DecodeAtContext {
  /** Cache length before the warmup steps. */
  context: number;
  /** The prefill that reached `context`, absent when the cache already had exactly `context` tokens. */
  reachedBy?: PrefillStretch;
  warmupSteps: number;
  decodeSteps: number;
  /**
   * Cache lengths the timed steps attended over, the new token included. Runs follow each other, so
   * run k starts k · decodeSteps positions after the first.
   */
  timedCacheTokens: { first: number; last: number; mean: number };
  /** decodeSteps / seconds of each run. */
  tokensPerSecond: Summary;
}

export interface DecodeHarnessResult {
  prefill: PrefillMeasurement;
  decode: DecodeAtContext[];
}

const task = "decode-bench";

/** Returns the cache capacity and the ids the harness needs: the largest context plus every decode step after it. */
export function decodeHarnessCapacity(options: Pick<DecodeHarnessOptions, "contexts" | "decodeSteps" | "runs" | "warmupSteps" | "prefillChunk">): number {
  const largest = Math.max(...options.contexts, options.prefillChunk);
  return largest + options.warmupSteps + options.runs * options.decodeSteps;
}

/**
 * Runs the benchmark on `session` with `ids` as the text stream. `ids` needs at least
 * decodeHarnessCapacity(options) entries and the session as much capacity. When the steps at one
 * context pass the next context, the session is reset and prefilled again from position 0.
 * Throws InvalidArgumentError for invalid options or too few ids.
 */
export async function measureDecodeAtContexts(
  session: InferenceSession,
  ids: readonly number[],
  options: DecodeHarnessOptions,
): Promise<DecodeHarnessResult> {
  validateOptions(options);
  const capacity = decodeHarnessCapacity(options);
  if (ids.length < capacity) {
    throw new InvalidArgumentError(`the harness needs ${capacity} ids for these options, got ${ids.length}`, { field: "ids" });
  }
  if (session.cache.capacity < capacity) {
    throw new InvalidArgumentError(
      `the session's cache has capacity for ${session.cache.capacity} tokens but the harness needs ${capacity}; create it with maxContext ${capacity}`,
      { field: "maxContext" },
    );
  }

  const onProgress = options.onProgress ?? silentProgress;
  const contexts = [...new Set(options.contexts)].sort((a, b) => a - b);
  const started = performance.now();
  onProgress({ type: "start", task, total: contexts.length, unit: "contexts" });

  const prefill = await measurePrefill(session, ids, options.prefillChunk, options.prefillRuns);

  const decode: DecodeAtContext[] = [];
  for (const [index, context] of contexts.entries()) {
    const reachedBy = await advanceTo(session, ids, context, options.prefillChunk);

    for (let step = 0; step < options.warmupSteps; step++) await session.decode(ids[session.position]);

    const first = session.position + 1;
    const rates: number[] = [];
    for (let run = 0; run < options.runs; run++) {
      const runStart = performance.now();
      for (let step = 0; step < options.decodeSteps; step++) await session.decode(ids[session.position]);
      rates.push(options.decodeSteps / ((performance.now() - runStart) / 1000));
    }
    const last = session.position;

    const entry: DecodeAtContext = {
      context,
      warmupSteps: options.warmupSteps,
      decodeSteps: options.decodeSteps,
      timedCacheTokens: { first, last, mean: (first + last) / 2 },
      tokensPerSecond: summarize(rates),
    };
    if (reachedBy !== undefined) entry.reachedBy = reachedBy;
    decode.push(entry);
    onProgress({ type: "advance", task, current: index + 1, total: contexts.length, unit: "contexts", metrics: { context } });
  }

  onProgress({ type: "end", task, seconds: (performance.now() - started) / 1000 });
  return { prefill, decode };
}

async function measurePrefill(session: InferenceSession, ids: readonly number[], chunk: number, runs: number): Promise<PrefillMeasurement> {
  const chunkIds = ids.slice(0, chunk);

  // The untimed first prefill absorbs one-time costs such as kernel compilation and buffer setup.
  const rates: number[] = [];
  for (let run = 0; run <= runs; run++) {
    session.reset();
    const start = performance.now();
    await session.prefill(chunkIds);
    const seconds = (performance.now() - start) / 1000;
    if (run > 0) rates.push(chunk / seconds);
  }
  return { chunkTokens: chunk, logits: "last", tokensPerSecond: summarize(rates) };
}

/** Prefills ids up to position `target` in chunks, after a reset when the cache is already longer. */
async function advanceTo(session: InferenceSession, ids: readonly number[], target: number, chunk: number): Promise<PrefillStretch | undefined> {
  if (session.position > target) session.reset();
  if (session.position === target) return undefined;

  const fromPosition = session.position;
  let chunks = 0;
  const start = performance.now();
  while (session.position < target) {
    const end = Math.min(session.position + chunk, target);
    await session.prefill(ids.slice(session.position, end));
    chunks++;
  }
  return { fromPosition, toPosition: target, chunks, seconds: (performance.now() - start) / 1000 };
}

function validateOptions(options: DecodeHarnessOptions): void {
  const counts: Array<[keyof DecodeHarnessOptions, number, number]> = [
    ["decodeSteps", options.decodeSteps, 1],
    ["runs", options.runs, 1],
    ["warmupSteps", options.warmupSteps, 0],
    ["prefillChunk", options.prefillChunk, 1],
    ["prefillRuns", options.prefillRuns, 1],
  ];
  for (const [field, value, min] of counts) {
    if (!Number.isSafeInteger(value) || value < min) {
      throw new InvalidArgumentError(`${field} must be an integer of at least ${min}, got ${String(value)}`, { field });
    }
  }

  if (options.contexts.length === 0) {
    throw new InvalidArgumentError("contexts is empty; pass at least one cache length", { field: "contexts" });
  }
  for (const context of options.contexts) {
    if (!Number.isSafeInteger(context) || context < 1) {
      throw new InvalidArgumentError(`every context must be a positive integer, got ${String(context)}`, { field: "contexts" });
    }
  }
}
