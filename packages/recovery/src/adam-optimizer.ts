// Adam (Kingma and Ba, 2015) over a list of float32 parameter arrays, updated in place. Both recovery
// methods step with it: the per-layer refit and the end-to-end distillation.
import { InvalidArgumentError } from "@elitekv/core";

// Standard Adam constants from the paper.
const beta1 = 0.9;
const beta2 = 0.999;
const epsilon = 1e-8;

export class AdamOptimizer {
  readonly learningRate: number;
  private readonly parameters: Float32Array[];
  private readonly firstMoment: Float32Array[];
  private readonly secondMoment: Float32Array[];
  private steps = 0;

  /** Updates `parameters` in place on every step. Throws InvalidArgumentError for a learning rate that is not positive. */
  constructor(parameters: Float32Array[], learningRate: number) {
    if (!(learningRate > 0) || !Number.isFinite(learningRate)) {
      throw new InvalidArgumentError(`the learning rate must be a positive number, got ${learningRate}`, { field: "learningRate" });
    }
    this.learningRate = learningRate;
    this.parameters = parameters;
    this.firstMoment = parameters.map((values) => new Float32Array(values.length));
    this.secondMoment = parameters.map((values) => new Float32Array(values.length));
  }

  /** Steps every parameter array against its gradient multiplied by `scale`. */
  step(gradients: readonly Float32Array[], scale = 1): void {
    if (gradients.length !== this.parameters.length) {
      throw new InvalidArgumentError(`expected ${this.parameters.length} gradient arrays, got ${gradients.length}`, { field: "gradients" });
    }
    this.steps++;
    const correction1 = 1 - beta1 ** this.steps;
    const correction2 = 1 - beta2 ** this.steps;
    for (let p = 0; p < this.parameters.length; p++) {
      const values = this.parameters[p];
      const g = gradients[p];
      const m = this.firstMoment[p];
      const v = this.secondMoment[p];
      if (g.length !== values.length) {
        throw new InvalidArgumentError(`gradient ${p} has ${g.length} values but its parameter has ${values.length}`, { field: "gradients" });
      }
      for (let i = 0; i < values.length; i++) {
        const scaled = g[i] * scale;
        m[i] = beta1 * m[i] + (1 - beta1) * scaled;
        v[i] = beta2 * v[i] + (1 - beta2) * scaled * scaled;
        values[i] -= (this.learningRate * (m[i] / correction1)) / (Math.sqrt(v[i] / correction2) + epsilon);
      }
    }
  }
}

/** Returns 0 .. count − 1 in a random order (Fisher-Yates). */
export function shuffledIndices(count: number, next: () => number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
