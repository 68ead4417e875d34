// The caller's part of running models in a sweep: a backend factory and optional fast products. The
// sweep library depends on no backend package, so the CLI and the tests pick the backend.
import type { Backend, InferenceSession, LoadedModel, MatmulProvider } from "@elitekv/core";

export interface SweepRuntime {
  /** Returns a new backend. The sweep creates one per phase and pass and disposes each one. */
  createBackend(): Backend;
  /** Threads per session; the backend's default when omitted. */
  threads?: number;
  /** Products of the covariances and SVDs, such as ONNX Runtime's GEMM; float64 loops when omitted. */
  matmul?: MatmulProvider;
}

/**
 * Opens one session per model on a new backend, runs `run` with them in the order of `models`, and
 * disposes the sessions and the backend however `run` ends.
 */
export async function withBackendSessions<T>(
  runtime: SweepRuntime,
  models: readonly LoadedModel[],
  maxContext: number,
  run: (sessions: InferenceSession[]) => Promise<T>,
): Promise<T> {
  const backend = runtime.createBackend();
  const sessions: InferenceSession[] = [];
  try {
    for (const model of models) {
      sessions.push(await backend.createSession(model, { maxContext, threads: runtime.threads }));
    }
    return await run(sessions);
  } finally {
    for (const session of sessions) await session.dispose();
    await backend.dispose();
  }
}
