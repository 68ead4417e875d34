// Turns the --prompt text into the ids the decode loop starts from, plain or through the model's chat
// template.
import { InvalidArgumentError, type Tokenizer } from "@elitekv/core";

export interface PromptOptions {
  prompt: string;
  /** Render the prompt as one user message through the chat template, with a generation prompt. */
  chat: boolean;
  /** The model path, for error messages. */
  modelPath: string;
}

/**
 * Encodes the prompt with exactly one BOS when the tokenizer has one. A chat template that already
 * emits BOS (`chatTemplateAddsBos`) gets no second one from the encoder.
 */
export function buildPromptIds(tokenizer: Tokenizer, options: PromptOptions): number[] {
  if (!options.chat) return tokenizer.encode(options.prompt, { addBos: true });

  const rendered =
    tokenizer.applyChatTemplate === undefined
      ? undefined
      : tokenizer.applyChatTemplate([{ role: "user", content: options.prompt }], { addGenerationPrompt: true });
  if (typeof rendered !== "string") {
    throw new InvalidArgumentError(
      `${options.modelPath} has no chat template; run without --chat to generate from the plain prompt`,
    );
  }
  return tokenizer.encode(rendered, { addBos: tokenizer.chatTemplateAddsBos !== true });
}
