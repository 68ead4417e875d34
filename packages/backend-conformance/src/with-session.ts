// Opens a session for one check and always disposes it, so that a failing check frees the backend's
// buffers before the next one runs.
import type { Backend, InferenceSession, LoadedModel } from "@elitekv/core";

/** Runs `task` on a new session of `model` with `maxContext` and disposes the session afterwards. */
export async function withSession<T>(
  backend: Backend,
  model: LoadedModel,
  maxContext: number,
  task: (session: InferenceSession) => Promise<T>,
): Promise<T> {
  const session = await backend.createSession(model, { maxContext });
  try {
    return await task(session);
  } finally {
    await session.dispose();
  }
}
