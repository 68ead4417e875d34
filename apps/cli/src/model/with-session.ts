// Runs work on a session of the chosen backend and disposes the session and the backend however the
// work ends, so that no worker thread or native session keeps the process alive.
import type { Backend, InferenceSession, LoadedModel } from "@elitekv/core";
import { createCpuBackend } from "@elitekv/runtime-cpu";
import { createOrtBackend } from "@elitekv/runtime-ort";

export const backendNames = ["ort", "cpu"] as const;
export type BackendName = (typeof backendNames)[number];

/** ONNX Runtime unless the caller asks for the TypeScript reference backend. */
export const defaultBackend: BackendName = "ort";

export interface SessionRequest {
  backend?: BackendName;
  threads?: number;
  /** Tokens the KV cache is allocated for. */
  maxContext: number;
}

export function createBackend(name: BackendName = defaultBackend, threads?: number): Backend {
  return name === "cpu" ? createCpuBackend({ threads }) : createOrtBackend({ threads });
}

export async function withSession<T>(model: LoadedModel, request: SessionRequest, run: (session: InferenceSession) => Promise<T>): Promise<T> {
  const backend = createBackend(request.backend, request.threads);
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
