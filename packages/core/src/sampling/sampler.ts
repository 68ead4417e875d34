// Token selection from one row of logits: greedy, or temperature with nucleus (top-p) sampling.
import { InvalidArgumentError } from "../errors/error-classes.js";
import { createRandom, type Random } from "./random.js";

export interface SamplingOptions {
  /** 0 selects greedily; larger values flatten the distribution. */
  temperature?: number;
  /** Keep the smallest set of tokens whose probability mass reaches topP (0 < topP <= 1). */
  topP?: number;
  seed?: number;
  /** Ids at or above this bound are never sampled (embedding rows the tokenizer cannot decode). */
  allowedVocabSize?: number;
}

/** Returns the id of the largest logit; ties go to the lowest id. */
export function argmax(logits: Float32Array, offset = 0, length = logits.length - offset): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < length; i++) {
    const value = logits[offset + i];
    if (value > bestValue) {
      bestValue = value;
      best = i;
    }
  }
  return best;
}

export class Sampler {
  private readonly temperature: number;
  private readonly topP: number;
  private readonly allowedVocabSize: number | undefined;
  private readonly random: Random;

  constructor(options: SamplingOptions = {}) {
    this.temperature = options.temperature ?? 0;
    this.topP = options.topP ?? 1;
    this.allowedVocabSize = options.allowedVocabSize;
    if (!(this.temperature >= 0) || !Number.isFinite(this.temperature)) {
      throw new InvalidArgumentError(`temperature must be a number >= 0, got ${options.temperature}`, {
        field: "temperature",
      });
    }
    if (!(this.topP > 0 && this.topP <= 1)) {
      throw new InvalidArgumentError(`top-p must be in (0, 1], got ${options.topP}`, { field: "topP" });
    }
    this.random = createRandom(options.seed ?? 0);
  }

  /** Picks the next id from logits[offset .. offset + vocabSize). */
  sample(logits: Float32Array, offset: number, vocabSize: number): number {
    const size = Math.min(vocabSize, this.allowedVocabSize ?? vocabSize);
    if (this.temperature === 0) return argmax(logits, offset, size);

    let max = -Infinity;
    for (let i = 0; i < size; i++) max = Math.max(max, logits[offset + i]);
    const probabilities = new Float64Array(size);
    let total = 0;
    for (let i = 0; i < size; i++) {
      const p = Math.exp((logits[offset + i] - max) / this.temperature);
      probabilities[i] = p;
      total += p;
    }

    const order = Array.from({ length: size }, (_, i) => i);
    order.sort((a, b) => probabilities[b] - probabilities[a] || a - b);
    let kept = 0;
    let mass = 0;
    while (kept < size) {
      mass += probabilities[order[kept]] / total;
      kept++;
      if (mass >= this.topP) break;
    }

    let threshold = this.random.next() * mass * total;
    for (let k = 0; k < kept; k++) {
      threshold -= probabilities[order[k]];
      if (threshold < 0) return order[k];
    }
    return order[kept - 1];
  }
}
