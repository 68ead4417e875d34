// Gradient steps on one converted layer's attention weights: Adam on the block's squared error, one
// calibration window per step in a seeded shuffled order. The gradient comes from an
// AttentionLossGradient, so this file does not depend on the autodiff library.
import { createRandom, InvalidArgumentError, type ProgressListener } from "@elitekv/core";

import { AdamOptimizer, shuffledIndices } from "./adam-optimizer.js";
import {
  attentionParameterNames,
  type AttentionLossGradient,
  type AttentionWindow,
  type EliteAttentionParameters,
} from "./attention-gradient.js";

export interface AdamRefitOptions {
  steps: number;
  learningRate: number;
  seed: number;
  /** Progress task name for the step events. */
  task?: string;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

const progressEvery = 10;

/**
 * Runs `options.steps` Adam steps from `initial` and returns the new parameters; `initial` is not
 * changed. Each window's error is divided by its target energy ‖Y‖², so windows weigh alike.
 */
export async function adamRefit(
  gradient: AttentionLossGradient,
  initial: EliteAttentionParameters,
  windows: readonly AttentionWindow[],
  options: AdamRefitOptions,
): Promise<EliteAttentionParameters> {
  if (!Number.isSafeInteger(options.steps) || options.steps < 0) {
    throw new InvalidArgumentError(`steps must be a non-negative integer, got ${options.steps}`, { field: "steps" });
  }
  if (windows.length === 0) throw new InvalidArgumentError("gradient steps need at least one calibration window", { field: "windows" });

  const parameters = {} as EliteAttentionParameters;
  for (const name of attentionParameterNames) parameters[name] = Float32Array.from(initial[name]);
  const optimizer = new AdamOptimizer(
    attentionParameterNames.map((name) => parameters[name]),
    options.learningRate,
  );
  const energies = windows.map((window) => window.target.reduce((sum, value) => sum + value * value, 0));

  const random = createRandom(options.seed);
  let order: number[] = [];
  const task = options.task ?? "gradient steps";
  options.onProgress?.({ type: "start", task, total: options.steps, unit: "steps" });
  let recentLoss = 0;
  for (let step = 1; step <= options.steps; step++) {
    options.signal?.throwIfAborted();
    if (order.length === 0) order = shuffledIndices(windows.length, random.next.bind(random));
    const index = order.pop()!;

    const { loss, gradient: grads } = await gradient.lossAndGradient(parameters, windows[index]);
    const scale = energies[index] > 0 ? 1 / energies[index] : 1;
    recentLoss += loss * scale;
    optimizer.step(
      attentionParameterNames.map((name) => grads[name]),
      scale,
    );

    if (step % progressEvery === 0 || step === options.steps) {
      const steps = step % progressEvery === 0 ? progressEvery : step % progressEvery;
      options.onProgress?.({ type: "advance", task, current: step, total: options.steps, unit: "steps", metrics: { loss: recentLoss / steps } });
      recentLoss = 0;
    }
  }
  options.onProgress?.({ type: "end", task });
  return parameters;
}
