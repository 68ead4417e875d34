// Entry of a compute worker thread: waits on the shared control block, runs its share of each
// matmul, attention or absorbed attention job over shared buffers, and reports completion with
// Atomics. It imports only relative files, so it starts the same way from TypeScript sources and from
// the build.
import { isMainThread, parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";

import { attendAbsorbedUnitRange, type AbsorbedAttentionScratch, type AbsorbedAttentionShape } from "./absorbed-attention.js";
import { attendUnitRange, type AttentionShape } from "./attention-kernel.js";
import { matmulRowRange } from "./matmul-kernel.js";
import {
  absorbedAttentionParameter,
  attentionParameter,
  controlSlot,
  matmulParameter,
  opcode,
  parameterByteOffset,
  parameterCount,
  runClaimedRanges,
  type ComputeWorkerData,
  type PortMessage,
} from "./pool-protocol.js";

/** How long a worker waits for a posted registration to arrive before it gives up, in milliseconds. */
const registrationTimeoutMs = 10_000;

if (isMainThread || parentPort === null) {
  throw new Error("compute-worker is a worker_threads entry; the CPU backend starts it, do not import it");
}

const data = workerData as ComputeWorkerData;
const control = new Int32Array(data.control, 0, parameterByteOffset / Int32Array.BYTES_PER_ELEMENT);
const parameters = new Int32Array(data.control, parameterByteOffset, parameterCount);
/** Index among the threads of a job, where the main thread is 0. */
const participantIndex = data.workerIndex + 1;
const buffers = new Map<number, Float32Array>();
let registryVersion = 0;
let scores = new Float64Array(0);
let accumulator = new Float64Array(0);
const absorbedScratch: AbsorbedAttentionScratch = {
  scores: new Float64Array(0),
  ropeQuery: new Float64Array(0),
  latentQuery: new Float64Array(0),
  latentSum: new Float64Array(0),
};

/** Applies the registrations the main thread posted before publishing the current job. */
function syncRegistry(): void {
  const expected = Atomics.load(control, controlSlot.registryVersion);
  const deadline = Date.now() + registrationTimeoutMs;
  const idle = new Int32Array(new SharedArrayBuffer(4));

  while (registryVersion < expected) {
    const received = receiveMessageOnPort(data.port);
    if (received === undefined) {
      // The posted message may still be in flight between threads: wait briefly and poll again.
      if (Date.now() > deadline) {
        throw new Error(`buffer registration ${registryVersion + 1} of ${expected} did not arrive within ${registrationTimeoutMs} ms`);
      }
      Atomics.wait(idle, 0, 0, 1);
      continue;
    }

    const message = received.message as PortMessage;
    if (message.type === "register") {
      buffers.set(message.id, new Float32Array(message.buffer));
      registryVersion = message.version;
    } else if (message.type === "release") {
      buffers.delete(message.id);
      registryVersion = message.version;
    }
  }
}

function buffer(id: number): Float32Array {
  const view = buffers.get(id);
  if (view === undefined) throw new Error(`job names shared buffer ${id}, which is not registered with this worker`);
  return view;
}

function runMatmulJob(): void {
  const p = matmulParameter;
  const out = buffer(parameters[p.outputBuffer]);
  const outOffset = parameters[p.outputOffset];
  const input = buffer(parameters[p.inputBuffer]);
  const inputOffset = parameters[p.inputOffset];
  const weight = buffer(parameters[p.weightBuffer]);
  const weightOffset = parameters[p.weightOffset];
  const tokens = parameters[p.tokens];
  const inFeatures = parameters[p.inFeatures];
  const outFeatures = parameters[p.outFeatures];

  runClaimedRanges(control, (rowStart, rowEnd) => {
    matmulRowRange(out, outOffset, input, inputOffset, weight, weightOffset, tokens, inFeatures, outFeatures, rowStart, rowEnd);
  });
}

function runAttentionJob(): void {
  const p = attentionParameter;
  const query = buffer(parameters[p.queryBuffer]);
  const cache = buffer(parameters[p.cacheBuffer]);
  const output = buffer(parameters[p.outputBuffer]);
  const shape: AttentionShape = {
    queryOffset: parameters[p.queryOffset],
    queryStride: parameters[p.queryStride],
    keyOffset: parameters[p.keyOffset],
    valueOffset: parameters[p.valueOffset],
    outputOffset: parameters[p.outputOffset],
    tokens: parameters[p.tokens],
    startPosition: parameters[p.startPosition],
    numHeads: parameters[p.numHeads],
    numKvHeads: parameters[p.numKvHeads],
    headDim: parameters[p.headDim],
    capacity: parameters[p.capacity],
  };
  if (scores.length < shape.startPosition + shape.tokens) scores = new Float64Array(shape.capacity);
  if (accumulator.length < shape.headDim) accumulator = new Float64Array(shape.headDim);

  runClaimedRanges(control, (unitStart, unitEnd) => {
    attendUnitRange(query, cache, output, shape, unitStart, unitEnd, scores, accumulator);
  });
}

function runAbsorbedAttentionJob(): void {
  const p = absorbedAttentionParameter;
  const scratch = buffer(parameters[p.scratchBuffer]);
  const cache = buffer(parameters[p.cacheBuffer]);
  const weights = buffer(parameters[p.weightBuffer]);
  const dimOrder = buffer(parameters[p.dimOrderBuffer]);
  const shape: AbsorbedAttentionShape = {
    queryOffset: parameters[p.queryOffset],
    queryStride: parameters[p.queryStride],
    outputOffset: parameters[p.outputOffset],
    tokens: parameters[p.tokens],
    startPosition: parameters[p.startPosition],
    numHeads: parameters[p.numHeads],
    numKvHeads: parameters[p.numKvHeads],
    headDim: parameters[p.headDim],
    capacity: parameters[p.capacity],
    ropeWidth: parameters[p.ropeWidth],
    latentOffset: parameters[p.latentOffset],
    latentDim: parameters[p.latentDim],
    dimOrderOffset: parameters[p.dimOrderOffset],
    keyUpOffset: parameters[p.keyUpOffset],
    valueUpOffset: parameters[p.valueUpOffset],
  };
  if (absorbedScratch.scores.length < shape.startPosition + shape.tokens) absorbedScratch.scores = new Float64Array(shape.capacity);
  if (absorbedScratch.ropeQuery.length < shape.ropeWidth) absorbedScratch.ropeQuery = new Float64Array(shape.ropeWidth);
  if (absorbedScratch.latentQuery.length < shape.latentDim) {
    absorbedScratch.latentQuery = new Float64Array(shape.latentDim);
    absorbedScratch.latentSum = new Float64Array(shape.latentDim);
  }

  runClaimedRanges(control, (unitStart, unitEnd) => {
    attendAbsorbedUnitRange(scratch, cache, weights, dimOrder, scratch, shape, unitStart, unitEnd, absorbedScratch);
  });
}

function serve(): void {
  let seen = Atomics.load(control, controlSlot.sequence);
  parentPort!.postMessage("ready");

  for (;;) {
    Atomics.wait(control, controlSlot.sequence, seen);
    const sequence = Atomics.load(control, controlSlot.sequence);
    if (sequence === seen) continue;
    seen = sequence;

    const job = Atomics.load(control, controlSlot.opcode);
    if (job === opcode.shutdown) return;

    try {
      syncRegistry();
      const participants = Atomics.load(control, controlSlot.participants);
      if (participantIndex < participants) {
        if (job === opcode.matmul) runMatmulJob();
        else if (job === opcode.attention) runAttentionJob();
        else if (job === opcode.absorbedAttention) runAbsorbedAttentionJob();
        else throw new Error(`unknown job opcode ${job}`);
      }
    } catch (error) {
      const message: PortMessage = { type: "failure", message: error instanceof Error ? error.message : String(error) };
      data.port.postMessage(message);
      Atomics.store(control, controlSlot.failed, 1);
    } finally {
      Atomics.add(control, controlSlot.done, 1);
      Atomics.notify(control, controlSlot.done);
    }
  }
}

serve();
