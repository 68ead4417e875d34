// Runs work on a CPU backend session and disposes the session and the backend however the work ends,
// so that no worker thread keeps the process alive.
import type { InferenceSession, LoadedModel } from "@elitekv/core";
import { createCpuBackend } from "@elitekv/runtime-cpu";

export interface CpuSessionOptions {
  threads?: number;
  /** Tokens the KV cache is allocated for. */
  maxContext: number;
}

export async function withCpuSession<T>(
  model: LoadedModel,
  options: CpuSessionOptions,
  run: (session: InferenceSession) => Promise<T>,
): Promise<T> {
  const backend = createCpuBackend({ threads: options.threads });
  try {
    const session = await backend.createSession(model, { maxContext: options.maxContext, threads: options.threads });
    try {
      return await run(session);
    } finally {
      await session.dispose();
    }
  } finally {
    await backend.dispose();
  }
}

/** withCpuSession for several models at once; `run` gets their sessions in the order of `models`. */
export async function withCpuSessions<T>(
  models: readonly LoadedModel[],
  options: CpuSessionOptions,
  run: (sessions: InferenceSession[]) => Promise<T>,
): Promise<T> {
  const open = async (index: number, sessions: InferenceSession[]): Promise<T> =>
    index === models.length
      ? run(sessions)
      : withCpuSession(models[index], options, (session) => open(index + 1, [...sessions, session]));
  return open(0, []);
}
