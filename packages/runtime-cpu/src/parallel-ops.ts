// The operations that run on every thread of the pool: matmul, causal attention over the full cache and
// absorbed attention over the EliteKV cache. Each packs its job parameters for the workers and runs the
// main thread's claims of the job.
import { attendAbsorbedUnitRange, type AbsorbedAttentionScratch, type AbsorbedAttentionShape } from "./absorbed-attention.js";
import { attendUnitRange, type AttentionShape } from "./attention-kernel.js";
import { matmulRowAlignment, matmulRowRange } from "./matmul-kernel.js";
import { absorbedAttentionParameter, attentionParameter, matmulParameter, opcode, parameterCount } from "./pool-protocol.js";
import type { SharedBufferHandle, ThreadPool } from "./thread-pool.js";

/**
 * Multiply-adds below which a job runs on the main thread alone. A parallel job costs about 22 µs of
 * wake-up and wait on top of its work (measured with empty jobs, Node 20.20, 2-core AMD EPYC VM).
 * 2^16 multiply-adds take about 40 µs on one thread, so smaller jobs gain nothing from splitting.
 * Results are the same either way.
 */
export const minimumParallelWork = 1 << 16;

/**
 * Claims each thread makes per job when all run at the same speed. More claims balance uneven
 * threads better, and each costs one atomic add.
 */
const claimsPerThread = 8;

/** Returns the units per claim: about units / (threads * claimsPerThread), a multiple of `align`. */
function claimGrain(units: number, threads: number, align: number): number {
  const grain = Math.ceil(units / (threads * claimsPerThread));
  return Math.max(align, Math.ceil(grain / align) * align);
}

/** An element offset into a registered shared buffer. */
export interface BufferSlice {
  handle: SharedBufferHandle;
  offset: number;
}

/** Computes out[tokens, outFeatures] = input[tokens, inFeatures] · weight[outFeatures, inFeatures]ᵀ. */
export function parallelMatmul(
  pool: ThreadPool,
  participants: number,
  out: BufferSlice,
  input: BufferSlice,
  weight: BufferSlice,
  tokens: number,
  inFeatures: number,
  outFeatures: number,
): Promise<void> {
  const parameters = new Array<number>(parameterCount).fill(0);
  parameters[matmulParameter.weightBuffer] = weight.handle.id;
  parameters[matmulParameter.weightOffset] = weight.offset;
  parameters[matmulParameter.inputBuffer] = input.handle.id;
  parameters[matmulParameter.inputOffset] = input.offset;
  parameters[matmulParameter.outputBuffer] = out.handle.id;
  parameters[matmulParameter.outputOffset] = out.offset;
  parameters[matmulParameter.tokens] = tokens;
  parameters[matmulParameter.inFeatures] = inFeatures;
  parameters[matmulParameter.outFeatures] = outFeatures;

  const threads = tokens * inFeatures * outFeatures < minimumParallelWork ? 1 : participants;
  const grain = claimGrain(outFeatures, threads, matmulRowAlignment);
  return pool.run(opcode.matmul, parameters, outFeatures, grain, threads, (rowStart, rowEnd) => {
    matmulRowRange(
      out.handle.data,
      out.offset,
      input.handle.data,
      input.offset,
      weight.handle.data,
      weight.offset,
      tokens,
      inFeatures,
      outFeatures,
      rowStart,
      rowEnd,
    );
  });
}

/** Buffers the main thread's share of attention works in. */
export interface AttentionScratch {
  /** At least one entry per cached position. */
  scores: Float64Array;
  /** At least headDim entries. */
  accumulator: Float64Array;
}

/**
 * Runs causal attention for `shape.tokens` query rows in `query` over the keys and values cached in
 * `cache`, writing [tokens, numHeads * headDim] into `output`. The offsets inside `shape` are element
 * indices into these buffers.
 */
export function parallelAttention(
  pool: ThreadPool,
  participants: number,
  query: SharedBufferHandle,
  cache: SharedBufferHandle,
  output: SharedBufferHandle,
  shape: AttentionShape,
  scratch: AttentionScratch,
): Promise<void> {
  const p = attentionParameter;
  const parameters = new Array<number>(parameterCount).fill(0);
  parameters[p.queryBuffer] = query.id;
  parameters[p.queryOffset] = shape.queryOffset;
  parameters[p.queryStride] = shape.queryStride;
  parameters[p.cacheBuffer] = cache.id;
  parameters[p.keyOffset] = shape.keyOffset;
  parameters[p.valueOffset] = shape.valueOffset;
  parameters[p.outputBuffer] = output.id;
  parameters[p.outputOffset] = shape.outputOffset;
  parameters[p.tokens] = shape.tokens;
  parameters[p.startPosition] = shape.startPosition;
  parameters[p.numHeads] = shape.numHeads;
  parameters[p.numKvHeads] = shape.numKvHeads;
  parameters[p.headDim] = shape.headDim;
  parameters[p.capacity] = shape.capacity;

  const units = shape.numHeads * shape.tokens;
  const work = units * (shape.startPosition + shape.tokens) * shape.headDim;
  const threads = work < minimumParallelWork ? 1 : participants;
  return pool.run(opcode.attention, parameters, units, claimGrain(units, threads, 1), threads, (unitStart, unitEnd) => {
    attendUnitRange(query.data, cache.data, output.data, shape, unitStart, unitEnd, scratch.scores, scratch.accumulator);
  });
}

/** The shared buffers an absorbed attention job reads and writes. */
export interface AbsorbedAttentionBuffers {
  /** Contains the query rows and receives the output rows. */
  scratch: SharedBufferHandle;
  cache: SharedBufferHandle;
  weights: SharedBufferHandle;
  dimOrder: SharedBufferHandle;
}

/**
 * Runs absorbed causal attention for `shape.tokens` query rows over one layer of an EliteKV cache,
 * writing [tokens, numHeads * headDim] into the scratch buffer at `shape.outputOffset`.
 */
export function parallelAbsorbedAttention(
  pool: ThreadPool,
  participants: number,
  buffers: AbsorbedAttentionBuffers,
  shape: AbsorbedAttentionShape,
  scratch: AbsorbedAttentionScratch,
): Promise<void> {
  const p = absorbedAttentionParameter;
  const parameters = new Array<number>(parameterCount).fill(0);
  parameters[p.scratchBuffer] = buffers.scratch.id;
  parameters[p.queryOffset] = shape.queryOffset;
  parameters[p.queryStride] = shape.queryStride;
  parameters[p.outputOffset] = shape.outputOffset;
  parameters[p.cacheBuffer] = buffers.cache.id;
  parameters[p.ropeWidth] = shape.ropeWidth;
  parameters[p.latentOffset] = shape.latentOffset;
  parameters[p.latentDim] = shape.latentDim;
  parameters[p.tokens] = shape.tokens;
  parameters[p.startPosition] = shape.startPosition;
  parameters[p.numHeads] = shape.numHeads;
  parameters[p.numKvHeads] = shape.numKvHeads;
  parameters[p.headDim] = shape.headDim;
  parameters[p.capacity] = shape.capacity;
  parameters[p.weightBuffer] = buffers.weights.id;
  parameters[p.keyUpOffset] = shape.keyUpOffset;
  parameters[p.valueUpOffset] = shape.valueUpOffset;
  parameters[p.dimOrderBuffer] = buffers.dimOrder.id;
  parameters[p.dimOrderOffset] = shape.dimOrderOffset;

  const units = shape.numHeads * shape.tokens;
  const work = units * (shape.startPosition + shape.tokens) * (shape.ropeWidth + shape.latentDim);
  const threads = work < minimumParallelWork ? 1 : participants;
  const query = buffers.scratch.data;
  return pool.run(opcode.absorbedAttention, parameters, units, claimGrain(units, threads, 1), threads, (unitStart, unitEnd) => {
    attendAbsorbedUnitRange(query, buffers.cache.data, buffers.weights.data, buffers.dimOrder.data, query, shape, unitStart, unitEnd, scratch);
  });
}
