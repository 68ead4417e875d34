// Tokenizer interface shared by the llama2.c, tokenizer.json and GGUF vocabularies.

export interface ChatMessage {
  role: "system" | "user" | "assistant" | (string & {});
  content: string;
}

export interface EncodeOptions {
  /** Prepend the BOS token (when the tokenizer has one). Defaults to false. */
  addBos?: boolean;
}

/** Turns ids into text piece by piece, holding back bytes of a character that is not complete yet. */
export interface TokenDecoderStream {
  /** Returns the text that became complete with this id (often ""). */
  push(id: number): string;
  /** Returns what is still held back, with U+FFFD for each byte of an incomplete character. */
  flush(): string;
}

export interface Tokenizer {
  /** Number of ids the tokenizer can produce (may be below the model's embedding rows). */
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosIds: readonly number[];
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[]): string;
  createDecoderStream(): TokenDecoderStream;
  /** Renders a chat as the prompt text the model expects; undefined when the model has no template. */
  applyChatTemplate?(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): string;
  /** True when a rendered chat prompt already starts with BOS, so encode must not add another. */
  readonly chatTemplateAddsBos?: boolean;
}
