// The autoregressive decode loop: prefill the prompt, then sample and feed one token at a time until
// an end-of-sequence id, the token budget or the end of the KV cache.
import { ContextOverflowError, InvalidArgumentError, type InferenceSession, type Sampler } from "@elitekv/core";

export type StopReason = "eos" | "max-new-tokens" | "context-limit";

export interface GenerationOptions {
  sampler: Sampler;
  maxNewTokens: number;
  /** Ids that end generation. The id that ends it is not part of the result. */
  eosIds: readonly number[];
  /** Receives each generated id as soon as it is sampled. */
  onToken?: (id: number) => void;
}

export interface GenerationResult {
  ids: number[];
  stopReason: StopReason;
  /** Seconds spent on the prompt prefill. */
  prefillSeconds: number;
  /** Seconds spent sampling and decoding the generated tokens. */
  decodeSeconds: number;
}

/**
 * Generates up to `maxNewTokens` ids after `promptIds`. The session must be empty. Generation stops
 * early at an id in `eosIds`, or when the KV cache is full (`session.cache.capacity` tokens).
 *
 * Throws InvalidArgumentError for an empty prompt and ContextOverflowError for a prompt longer than
 * the cache.
 */
export async function generateTokens(
  session: InferenceSession,
  promptIds: readonly number[],
  options: GenerationOptions,
): Promise<GenerationResult> {
  const capacity = session.cache.capacity;
  if (promptIds.length === 0) {
    throw new InvalidArgumentError(
      "the prompt has no tokens and the tokenizer has no BOS token to start from; pass a non-empty --prompt",
    );
  }
  if (promptIds.length > capacity) throw new ContextOverflowError(promptIds.length, capacity);

  const eos = new Set(options.eosIds);
  const ids: number[] = [];
  const prefillStart = performance.now();
  let logits = await session.prefill(promptIds);
  const decodeStart = performance.now();
  const finish = (stopReason: StopReason): GenerationResult => ({
    ids,
    stopReason,
    prefillSeconds: (decodeStart - prefillStart) / 1000,
    decodeSeconds: (performance.now() - decodeStart) / 1000,
  });

  while (ids.length < options.maxNewTokens) {
    const lastRow = (logits.rows - 1) * logits.vocabSize;
    const id = options.sampler.sample(logits.data, lastRow, logits.vocabSize);
    if (eos.has(id)) return finish("eos");

    ids.push(id);
    options.onToken?.(id);
    if (ids.length >= options.maxNewTokens) break;
    // The sampled id needs a cache slot of its own before the next one can be sampled.
    if (session.position >= capacity) return finish("context-limit");
    logits = await session.decode(id);
  }
  return finish("max-new-tokens");
}
