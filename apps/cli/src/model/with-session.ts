// Runs work on a session of the chosen backend and disposes the session and the backend however the
// work ends, so that no worker thread or native session keeps the process alive.
import type { Backend, InferenceSession, LoadedModel } from "@elitekv/core";
import { createCpuBackend } from "@elitekv/runtime-cpu";
import { InvalidArgumentError } from "@elitekv/core";
import { createOrtBackend, type WeightDtype } from "@elitekv/runtime-ort";

export const backendNames = ["ort", "cpu"] as const;
export type BackendName = (typeof backendNames)[number];

/** ONNX Runtime unless the caller asks for the TypeScript reference backend. */
export const defaultBackend: BackendName = "ort";

export interface SessionRequest {
  backend?: BackendName;
  threads?: number;
  /** Storage of the linear weights on the ORT backend. Defaults to "f32", the only one the CPU backend has. */
  weightDtype?: WeightDtype;
  /** Tokens the KV cache is allocated for. */
  maxContext: number;
}

export function createBackend(name: BackendName = defaultBackend, threads?: number, weightDtype: WeightDtype = "f32"): Backend {
  if (name === "ort") return createOrtBackend({ threads, weightDtype });
  if (weightDtype !== "f32") {
    throw new InvalidArgumentError(`--weight-dtype ${weightDtype} needs --backend ort; the CPU backend computes with f32 weights only`, {
      field: "weightDtype",
    });
  }
  return createCpuBackend({ threads });
}

export async function withSession<T>(model: LoadedModel, request: SessionRequest, run: (session: InferenceSession) => Promise<T>): Promise<T> {
  const backend = createBackend(request.backend, request.threads, request.weightDtype);
  try {
    const session = await backend.createSession(model, { maxContext: request.maxContext, threads: request.threads });
    try {
      return await run(session);
    } finally {
      await session.dispose();
    }
  } finally {
    await backend.dispose();
  }
}

/** withSession for several models at once; `run` gets their sessions in the order of `models`. */
export async function withSessions<T>(
  models: readonly LoadedModel[],
  request: SessionRequest,
  run: (sessions: InferenceSession[]) => Promise<T>,
): Promise<T> {
  const open = async (index: number, sessions: InferenceSession[]): Promise<T> =>
    index === models.length ? run(sessions) : withSession(models[index], request, (session) => open(index + 1, [...sessions, session]));
  return open(0, []);
}
