// The ONNX Runtime backend: builds one decoder graph per session from the loaded weights (base or
// EliteKV) and runs it on onnxruntime-node's CPU execution provider.
import { availableParallelism } from "node:os";

import { BackendFailureError, InvalidArgumentError, type Backend, type InferenceSession, type LoadedModel, type SessionOptions } from "@elitekv/core";
import ort from "onnxruntime-node";

import { buildDecoderGraph } from "./graph/decoder-graph.js";
import { externalDataEntries } from "./onnx/graph-builder.js";
import { OrtSession } from "./ort-session.js";

export interface OrtBackendOptions {
  /** Intra-op threads of every session; defaults to the number of CPUs. */
  threads?: number;
  /** Storage type of the weights inside the graph. ORT computes in float32 either way. Defaults to "f32". */
  weightDtype?: "f32" | "f16";
  /** Most tokens per graph run; longer prefills run in chunks. Defaults to 256. */
  chunkTokens?: number;
}

const defaultChunkTokens = 256;

export function createOrtBackend(options: OrtBackendOptions = {}): Backend {
  const threads = options.threads ?? availableParallelism();
  const chunkTokens = options.chunkTokens ?? defaultChunkTokens;
  requirePositiveInteger(threads, "threads");
  requirePositiveInteger(chunkTokens, "chunkTokens");
  const weightDtype = options.weightDtype ?? "f32";
  if (weightDtype !== "f32" && weightDtype !== "f16") {
    throw new InvalidArgumentError(`weightDtype must be "f32" or "f16", got ${String(weightDtype)}`, { field: "weightDtype" });
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
