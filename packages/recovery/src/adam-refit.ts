// Gradient steps on one converted layer's attention weights: Adam on the block's squared error, one
// calibration window per step in a seeded shuffled order. The gradient comes from an
// AttentionLossGradient, so this file does not depend on the autodiff library.
import { createRandom, InvalidArgumentError, type ProgressListener } from "@elitekv/core";

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

// Standard Adam constants (Kingma and Ba, 2015).
const beta1 = 0.9;
const beta2 = 0.999;
const epsilon = 1e-8;
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
  if (!(options.learningRate > 0) || !Number.isFinite(options.learningRate)) {
    throw new InvalidArgumentError(`the learning rate must be a positive number, got ${options.learningRate}`, { field: "learningRate" });
  }
  if (windows.length === 0) throw new InvalidArgumentError("gradient steps need at least one calibration window", { field: "windows" });

  const parameters = {} as EliteAttentionParameters;
  const firstMoment = {} as EliteAttentionParameters;
  const secondMoment = {} as EliteAttentionParameters;
  for (const name of attentionParameterNames) {
    parameters[name] = Float32Array.from(initial[name]);
    firstMoment[name] = new Float32Array(initial[name].length);
    secondMoment[name] = new Float32Array(initial[name].length);
  }
  const energies = windows.map((window) => window.target.reduce((sum, value) => sum + value * value, 0));

  const random = createRandom(options.seed);
  let order: number[] = [];
  const task = options.task ?? "gradient steps";
  options.onProgress?.({ type: "start", task, total: options.steps, unit: "steps" });
  let recentLoss = 0;
  for (let step = 1; step <= options.steps; step++) {
    options.signal?.throwIfAborted();
    if (order.length === 0) order = shuffled(windows.length, random.next.bind(random));
    const index = order.pop()!;

    const { loss, gradient: grads } = await gradient.lossAndGradient(parameters, windows[index]);
    const scale = energies[index] > 0 ? 1 / energies[index] : 1;
    recentLoss += loss * scale;
    const correction1 = 1 - beta1 ** step;
    const correction2 = 1 - beta2 ** step;
    for (const name of attentionParameterNames) {
      const values = parameters[name];
      const g = grads[name];
      const m = firstMoment[name];
      const v = secondMoment[name];
      for (let i = 0; i < values.length; i++) {
        const scaled = g[i] * scale;
        m[i] = beta1 * m[i] + (1 - beta1) * scaled;
        v[i] = beta2 * v[i] + (1 - beta2) * scaled * scaled;
        values[i] -= (options.learningRate * (m[i] / correction1)) / (Math.sqrt(v[i] / correction2) + epsilon);
      }
    }

    if (step % progressEvery === 0 || step === options.steps) {
      const steps = step % progressEvery === 0 ? progressEvery : step % progressEvery;
      options.onProgress?.({ type: "advance", task, current: step, total: options.steps, unit: "steps", metrics: { loss: recentLoss / steps } });
      recentLoss = 0;
    }
  }
  options.onProgress?.({ type: "end", task });
  return parameters;
}

/** Returns 0 .. count − 1 in a random order (Fisher-Yates). */
function shuffled(count: number, next: () => number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
