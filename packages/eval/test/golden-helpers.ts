// Shared setup of the golden perplexity tests: golden.json files and a CPU session on a shared model.
import { readFileSync } from "node:fs";

import type { Backend, InferenceSession, LoadedModel } from "@elitekv/core";
import { loadModel } from "@elitekv/models";
import { createCpuBackend } from "@elitekv/runtime-cpu";
import { sharedPath } from "@elitekv/vitest-config/shared";

/** Window of the golden protocol, in ids. */
export const goldenWindow = 512;
/** Characters of the evaluation text that the golden ids were tokenized from. */
export const goldenTextChars = 40_000;
/** Windows scored when a test only checks the start of a stream against the golden window means. */
export const prefixWindows = 4;
// Window means from a float32 forward stay this close to the float64 reference, in nats. The golden
// perplexity is the contract; this bound points a failure at one window.
export const windowNllTolerance = 1e-3;

export function readGolden<T>(model: string): T {
  return JSON.parse(readFileSync(sharedPath("models", model, "golden.json"), "utf8")) as T;
}

export interface OpenedModel {
  model: LoadedModel;
  backend: Backend;
  session: InferenceSession;
}

export async function openGoldenModel(relativePath: string): Promise<OpenedModel> {
  const model = await loadModel(sharedPath("models", relativePath));
  const backend = createCpuBackend();
  const session = await backend.createSession(model, { maxContext: goldenWindow });
  return { model, backend, session };
}

export async function closeGoldenModel(opened: OpenedModel | undefined): Promise<void> {
  await opened?.session.dispose();
  await opened?.backend.dispose();
}
