// The ONNX Runtime backend: builds one decoder graph per session from the loaded weights (base or
// EliteKV) and runs it on onnxruntime-node's CPU execution provider.
import { availableParallelism } from "node:os";

import { BackendFailureError, InvalidArgumentError, type Backend, type InferenceSession, type LoadedModel, type SessionOptions } from "@elitekv/core";
import ort from "onnxruntime-node";

import { buildDecoderGraph } from "./graph/decoder-graph.js";
import { weightDtypes, type WeightDtype } from "./graph/graph-ops.js";
import { externalDataEntries } from "./onnx/graph-builder.js";
import { OrtSession } from "./ort-session.js";

export interface OrtBackendOptions {
  /** Intra-op threads of every session; defaults to the number of CPUs. */
  threads?: number;
  /**
   * Storage of the linear weights inside the graph. "f32" (the default) and "f16" compute in float32,
   * so "f16" saves only transfer. "q8" and "q4" quantize each block of 32 weights and run int8 kernels:
   * less memory traffic per decoded token, at a small quality cost that the conformance suite does not
   * bound.
   */
  weightDtype?: WeightDtype;
  /** Maximum tokens per graph run; longer prefills run in chunks. Defaults to 256. */
  chunkTokens?: number;
  /**
   * Lets ORT's idle worker threads spin between operators instead of sleeping. Defaults to false: a
   * decode step runs about a thousand small operators, and on a machine shared with other work spinning
   * threads slowed SmolLM2 decode from 35 to 20 tokens/s (2 threads, q8 weights).
   */
  spinning?: boolean;
}

const defaultChunkTokens = 256;

export function createOrtBackend(options: OrtBackendOptions = {}): Backend {
  const threads = options.threads ?? availableParallelism();
  const chunkTokens = options.chunkTokens ?? defaultChunkTokens;
  requirePositiveInteger(threads, "threads");
  requirePositiveInteger(chunkTokens, "chunkTokens");
  const weightDtype = options.weightDtype ?? "f32";
  const spinning = options.spinning ?? false;
  if (!weightDtypes.includes(weightDtype)) {
    throw new InvalidArgumentError(`weightDtype must be one of ${weightDtypes.join(", ")}, got ${String(weightDtype)}`, { field: "weightDtype" });
  }

  const sessions = new Set<InferenceSession>();
  let disposed = false;

  return {
    name: "ort",

    async createSession(model: LoadedModel, sessionOptions: SessionOptions = {}): Promise<InferenceSession> {
      if (disposed) throw new BackendFailureError("the ORT backend was disposed; create a new backend");
      const capacity = sessionOptions.maxContext ?? model.config.maxPositionEmbeddings;
      requirePositiveInteger(capacity, "maxContext");
      const sessionThreads = sessionOptions.threads ?? threads;
      requirePositiveInteger(sessionThreads, "threads");

      const encoded = buildDecoderGraph(model, { weightDtype });
      let runtime: ort.InferenceSession;
      try {
        runtime = await ort.InferenceSession.create(encoded.model, {
          externalData: externalDataEntries(encoded),
          graphOptimizationLevel: "all",
          executionMode: "sequential",
          intraOpNumThreads: sessionThreads,
          interOpNumThreads: 1,
          extra: { session: { intra_op: { allow_spinning: spinning ? "1" : "0" } } },
        });
      } catch (error) {
        throw new BackendFailureError(`onnxruntime could not load the decoder graph of ${model.source.path}: ${(error as Error).message}`, {
          cause: error,
        });
      }

      const session = new OrtSession({ model, runtime, capacity, chunkTokens });
      sessions.add(session);
      const dispose = session.dispose.bind(session);
      session.dispose = async () => {
        sessions.delete(session);
        await dispose();
      };
      return session;
    },

    async dispose(): Promise<void> {
      disposed = true;
      await Promise.all([...sessions].map((session) => session.dispose()));
    },
  };
}

function requirePositiveInteger(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${field} must be a positive integer, got ${String(value)}`, { field });
  }
}
