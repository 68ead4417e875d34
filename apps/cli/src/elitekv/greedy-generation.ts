// A short greedy generation, for side-by-side samples of a base model and its EliteKV checkpoint.
import { Sampler, type LoadedModel } from "@elitekv/core";

import { buildPromptIds } from "../generation/build-prompt-ids.js";
import { generateTokens } from "../generation/generate-tokens.js";
import { withSession, type BackendName } from "../model/with-session.js";

export interface GreedySample {
  /** The generated text, without the prompt. */
  text: string;
  tokens: number;
  decodeTokensPerSecond: number;
}

/**
 * Returns the prompt ids: the prompt as one user message through the chat template when the model has
 * one, else the plain prompt, with one BOS either way.
 */
export function samplePromptIds(model: LoadedModel, prompt: string): number[] {
  const rendered = model.tokenizer.applyChatTemplate?.([{ role: "user", content: prompt }], { addGenerationPrompt: true });
  return buildPromptIds(model.tokenizer, { prompt, chat: typeof rendered === "string", modelPath: model.source.path });
}

/** Generates up to `maxNewTokens` tokens greedily after `promptIds`. */
export async function greedySample(
  model: LoadedModel,
  promptIds: readonly number[],
  maxNewTokens: number,
  threads?: number,
  backend?: BackendName,
): Promise<GreedySample> {
  const { tokenizer } = model;
  const maxContext = Math.min(model.config.maxPositionEmbeddings, promptIds.length + maxNewTokens);

  const decoder = tokenizer.createDecoderStream();
  for (const id of promptIds) decoder.push(id);
  let text = "";
  const eosIds = [...new Set([...tokenizer.eosIds, ...model.config.eosTokenIds])];
  const sampler = new Sampler({ temperature: 0, allowedVocabSize: tokenizer.vocabSize });

  const result = await withSession(model, { backend, threads, maxContext }, (session) =>
    generateTokens(session, promptIds, { sampler, maxNewTokens, eosIds, onToken: (id) => (text += decoder.push(id)) }),
  );
  text += decoder.flush();
  return { text, tokens: result.ids.length, decodeTokensPerSecond: result.ids.length / Math.max(result.decodeSeconds, 1e-9) };
}
