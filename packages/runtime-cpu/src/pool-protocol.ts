// Layout of the shared control block through which the main thread hands jobs to the compute workers,
// and the job opcodes. The main thread and every worker import this file, so it must stay free of
// workspace imports (a worker started from TypeScript sources resolves only relative files).
import type { MessagePort } from "node:worker_threads";

/** Int32 slots at the start of the control block. */
export const controlSlot = {
  /** Job counter. The main thread increments it to publish a job and workers wait on it. */
  sequence: 0,
  /** Workers that finished the current job, whether or not it gave them rows. */
  done: 1,
  /** Set to 1 by a worker whose job threw. Its message follows on the worker's port. */
  failed: 2,
  /** Count of buffer registrations and releases the main thread has posted so far. */
  registryVersion: 3,
  opcode: 4,
  /** Threads sharing the current job, the main thread included. */
  participants: 5,
  /** Work units (matmul rows, attention head-token pairs) of the current job. */
  totalUnits: 6,
  /** Units a thread claims at a time. */
  grainUnits: 7,
  /** First unit no thread has claimed yet. Threads advance it with Atomics.add. */
  nextUnit: 8,
} as const;

/** Bytes before the parameter slots. */
export const parameterByteOffset = 64;

/**
 * Int32 parameter slots. The kernels index typed arrays with these values, and with offsets read from a
 * Float64Array a 64×576×1536 matmul ran at half the speed on Node 20.20 (V8 keeps the index arithmetic
 * in float64). Offsets and counts are therefore at most maxElementIndex.
 */
export const parameterCount = 24;

export const controlBlockBytes = parameterByteOffset + parameterCount * Int32Array.BYTES_PER_ELEMENT;

/** Largest element offset or count a job parameter can carry (int32). */
export const maxElementIndex = 2 ** 31 - 1;

export const opcode = {
  matmul: 1,
  attention: 2,
  shutdown: 3,
  absorbedAttention: 4,
} as const;

/** Parameter slots of a matmul job: out[tokens, outFeatures] = input[tokens, inFeatures] · weightᵀ. */
export const matmulParameter = {
  weightBuffer: 0,
  weightOffset: 1,
  inputBuffer: 2,
  inputOffset: 3,
  outputBuffer: 4,
  outputOffset: 5,
  tokens: 6,
  inFeatures: 7,
  outFeatures: 8,
} as const;

/** Parameter slots of a causal attention job over a layer's cached keys and values. */
export const attentionParameter = {
  queryBuffer: 0,
  queryOffset: 1,
  /** Elements between the query rows of consecutive tokens. */
  queryStride: 2,
  cacheBuffer: 3,
  keyOffset: 4,
  valueOffset: 5,
  outputBuffer: 6,
  outputOffset: 7,
  tokens: 8,
  startPosition: 9,
  numHeads: 10,
  numKvHeads: 11,
  headDim: 12,
  /** Token slots per KV head in the cache, the stride between KV heads in units of headDim. */
  capacity: 13,
} as const;

/**
 * Parameter slots of an absorbed attention job over one layer of an EliteKV cache. Query rows and
 * output rows live in the same scratch buffer.
 */
export const absorbedAttentionParameter = {
  scratchBuffer: 0,
  queryOffset: 1,
  /** Elements between the query rows of consecutive tokens. */
  queryStride: 2,
  outputOffset: 3,
  cacheBuffer: 4,
  /** Cached rope values per KV head and token (2r). Rope keys start at element 0 of the cache buffer. */
  ropeWidth: 5,
  latentOffset: 6,
  latentDim: 7,
  tokens: 8,
  startPosition: 9,
  numHeads: 10,
  numKvHeads: 11,
  headDim: 12,
  capacity: 13,
  weightBuffer: 14,
  keyUpOffset: 15,
  valueUpOffset: 16,
  /** Buffer and offset of the layer's dim order [numKvHeads, headDim]: per KV head its rope dims, then its nope dims. */
  dimOrderBuffer: 17,
  dimOrderOffset: 18,
} as const;

/** A message on a worker's own port, in either direction. */
export type PortMessage =
  | { type: "register"; version: number; id: number; buffer: SharedArrayBuffer }
  | { type: "release"; version: number; id: number }
  | { type: "failure"; message: string };

/** Data every worker receives at start. */
export interface ComputeWorkerData {
  workerIndex: number;
  control: SharedArrayBuffer;
  port: MessagePort;
}

/**
 * Calls `runRange(start, end)` for each range of the current job's units this thread claims, until
 * none are left. Threads claim ranges as they finish the previous one, so a thread slowed by other
 * load takes fewer. Each claim advances nextUnit with one Atomics.add, so no unit is claimed twice.
 */
export function runClaimedRanges(control: Int32Array, runRange: (start: number, end: number) => void): void {
  const total = Atomics.load(control, controlSlot.totalUnits);
  const grain = Atomics.load(control, controlSlot.grainUnits);
  for (;;) {
    const start = Atomics.add(control, controlSlot.nextUnit, grain);
    if (start >= total) return;
    runRange(start, Math.min(total, start + grain));
  }
}
