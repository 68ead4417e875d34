// tokenizer.json tokenizers through @huggingface/tokenizers 0.2.0, wrapped in the core Tokenizer
// interface, with tokenizer_config.json for the BOS/EOS tokens and the chat template.
import { readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";

import {
  InvalidTokenizerError,
  type ChatMessage,
  type EncodeOptions,
  type TokenDecoderStream,
  type Tokenizer,
} from "@elitekv/core";

import { ChatTemplate, selectChatTemplate } from "./chat-template.js";
import { readJsonFile } from "./read-json-file.js";
import { tokenizersJs, type TokenizersJsDecoder, type TokenizersJsTokenizer } from "./tokenizers-js.js";
import { replacementCharacter } from "./utf8-byte-decoder.js";

export interface HuggingFaceTokenizerOptions {
  /** Overrides the BOS id taken from tokenizer_config.json (config.json's bos_token_id). */
  bosTokenId?: number | null;
  /** Extra stop ids (config.json and generation_config.json eos_token_id), merged with the tokenizer's. */
  eosTokenIds?: readonly number[];
  /** Template text that replaces tokenizer_config.json's chat_template (a chat_template.jinja file). */
  chatTemplate?: string;
  /** File or folder named in error messages. */
  source?: string;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Rust `tokenizers` turns an invalid run of byte tokens into one U+FFFD per byte, while tokenizers.js
 * 0.2.0 decodes the run leniently (one U+FFFD per broken sequence). This restores the Rust count.
 */
const byteRunDecoder = {
  decode(bytes: Uint8Array): string {
    try {
      return strictUtf8.decode(bytes);
    } catch {
      return replacementCharacter.repeat(bytes.byteLength);
    }
  },
};

function useByteRunDecoding(decoder: TokenizersJsDecoder | null): void {
  if (decoder instanceof tokenizersJs.ByteFallbackDecoder) decoder.text_decoder = byteRunDecoder;
  if (decoder instanceof tokenizersJs.SequenceDecoder) decoder.decoders.forEach(useByteRunDecoding);
}

/** Returns the content of a special-token entry: a plain string or an AddedToken object. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null && typeof (value as { content?: unknown }).content === "string") {
    return (value as { content: string }).content;
  }
  return undefined;
}

export class HuggingFaceTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosIds: readonly number[];
  /** tokenizer_config.json add_bos_token: whether the model expects BOS before a plain prompt. */
  readonly addBosToken: boolean;
  readonly chatTemplateAddsBos: boolean;

  private readonly tokenizer: TokenizersJsTokenizer;
  private readonly chatTemplate: ChatTemplate | undefined;
  private readonly source: string;

  /**
   * Builds the tokenizer from parsed tokenizer.json and tokenizer_config.json objects. A tokenizer.json
   * that tokenizers.js rejects raises InvalidTokenizerError naming `options.source`.
   */
  constructor(tokenizerJson: unknown, tokenizerConfig: Record<string, unknown>, options: HuggingFaceTokenizerOptions = {}) {
    this.source = options.source ?? "tokenizer.json";
    if (typeof tokenizerJson !== "object" || tokenizerJson === null || !("model" in tokenizerJson)) {
      throw new InvalidTokenizerError("tokenizer.json must be an object with a model section", { file: this.source });
    }

    try {
      this.tokenizer = new tokenizersJs.Tokenizer(tokenizerJson, tokenizerConfig);
    } catch (error) {
      throw new InvalidTokenizerError(`tokenizer.json could not be loaded: ${(error as Error).message}`, {
        file: this.source,
        cause: error,
      });
    }
    useByteRunDecoding(this.tokenizer.decoder);

    const model = this.tokenizer.model;
    this.vocabSize = model === null ? 0 : model.vocab.length;

    const bosToken = tokenContent(tokenizerConfig.bos_token);
    const eosToken = tokenContent(tokenizerConfig.eos_token);
    const bosFromConfig = bosToken === undefined ? undefined : this.tokenizer.token_to_id(bosToken);
    this.bosId = options.bosTokenId !== undefined ? options.bosTokenId : (bosFromConfig ?? null);

    const eosIds = [...(options.eosTokenIds ?? [])];
    const eosFromConfig = eosToken === undefined ? undefined : this.tokenizer.token_to_id(eosToken);
    if (eosFromConfig !== undefined && !eosIds.includes(eosFromConfig)) eosIds.push(eosFromConfig);
    this.eosIds = eosIds;

    const addBos = tokenizerConfig.add_bos_token;
    this.addBosToken = typeof addBos === "boolean" ? addBos : this.bosId !== null && this.postProcessorAddsBos(tokenizerJson);

    const templateSource = options.chatTemplate ?? selectChatTemplate(tokenizerConfig.chat_template, this.source);
    const bosString = bosToken ?? (this.bosId === null ? undefined : this.tokenizer.id_to_token(this.bosId));
    this.chatTemplate =
      templateSource === undefined
        ? undefined
        : new ChatTemplate(
            templateSource,
            {
              bos_token: bosString,
              eos_token: eosToken,
              unk_token: tokenContent(tokenizerConfig.unk_token),
              pad_token: tokenContent(tokenizerConfig.pad_token),
            },
            this.source,
          );
    this.chatTemplateAddsBos = this.chatTemplate?.startsWithBos() ?? false;
  }

  /** Returns the id of `token` (a vocabulary entry or an added token), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /** Returns the vocabulary entry for `id`, or undefined. */
  idToToken(id: number): string | undefined {
    return this.isKnownId(id) ? this.tokenizer.id_to_token(id) : undefined;
  }

  /** Encodes without the post-processor's special tokens; BOS only when `addBos` is set and known. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const encoding = this.tokenizer.encode(text, { add_special_tokens: false });
    const ids = encoding.ids;
    const missing = ids.findIndex((id) => id === undefined);
    if (missing >= 0) {
      // tokenizers.js maps a piece found in neither the vocabulary nor the added tokens to the unk id,
      // which is undefined when the model has no unk token.
      throw new InvalidTokenizerError(
        `piece ${JSON.stringify(encoding.tokens[missing])} is not in the vocabulary and the tokenizer has no unk token`,
        { file: this.source, field: "model.unk_token" },
      );
    }
    const known = ids as number[];
    if (options.addBos === true && this.bosId !== null) known.unshift(this.bosId);
    return known;
  }

  /** Decodes with special tokens skipped. Ids the tokenizer does not know decode to U+FFFD. */
  decode(ids: readonly number[]): string {
    if (ids.every((id) => this.isKnownId(id))) return this.decodeKnown([...ids]);

    const stream = this.createDecoderStream();
    let text = "";
    for (const id of ids) text += stream.push(id);
    return text + stream.flush();
  }

  /**
   * Streams text token by token. Each step decodes a short window of recent ids and emits the text the
   * new id added. Text ending in U+FFFD (an incomplete character) is held back until a later id
   * completes it. flush() returns the tokenizer's own decoding of the held-back ids, which with a
   * ByteFallback decoder is one U+FFFD per leftover byte. An unknown id emits U+FFFD in place.
   */
  createDecoderStream(): TokenDecoderStream {
    let window: number[] = [];
    let prefix = "";
    let prefixLength = 0;

    const takePending = (): string => {
      const text = this.decodeKnown(window);
      return text.length > prefix.length ? text.slice(commonPrefixLength(prefix, text)) : "";
    };

    const flush = (): string => {
      const rest = takePending();
      window = [];
      prefix = "";
      prefixLength = 0;
      return rest;
    };

    const push = (id: number): string => {
      if (!this.isKnownId(id)) {
        const rest = takePending();
        // Keep the last id as context, so that decoders which strip a leading space at the start of
        // the text (Strip, Metaspace) still treat the next piece as mid-text.
        const last = window[window.length - 1];
        const lastText = last === undefined ? "" : this.decodeKnown([last]);
        const keepContext = last !== undefined && !lastText.endsWith(replacementCharacter);
        window = keepContext ? [last] : [];
        prefix = keepContext ? lastText : "";
        prefixLength = window.length;
        return rest + replacementCharacter;
      }

      window.push(id);
      const text = this.decodeKnown(window);
      if (text.length <= prefix.length || text.endsWith(replacementCharacter)) return "";

      const added = text.slice(commonPrefixLength(prefix, text));
      // The ids decoded in the previous step become the context for the next one, so that decoders
      // which look at neighbours (Strip, Metaspace prefix rules) see the same text both times.
      window = window.slice(prefixLength);
      prefix = this.decodeKnown(window);
      prefixLength = window.length;
      return added;
    };

    return { push, flush };
  }

  /** Renders a chat through the tokenizer's template; undefined when tokenizer_config.json has none. */
  get applyChatTemplate():
    | ((messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }) => string)
    | undefined {
    const template = this.chatTemplate;
    if (template === undefined) return undefined;
    return (messages, options = {}) => template.render(messages, options);
  }

  /** True when the tokenizer has a chat template, so applyChatTemplate can render prompts. */
  get hasChatTemplate(): boolean {
    return this.chatTemplate !== undefined;
  }

  private isKnownId(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.vocabSize && this.tokenizer.id_to_token(id) !== undefined;
  }

  private decodeKnown(ids: number[]): string {
    if (ids.length === 0) return "";
    return this.tokenizer.decode(ids, { skip_special_tokens: true });
  }

  /** True when the post-processor's single-sequence template starts with the BOS token. */
  private postProcessorAddsBos(tokenizerJson: object): boolean {
    const processor = (tokenizerJson as { post_processor?: { type?: string; single?: unknown[] } }).post_processor;
    const first = processor?.type === "TemplateProcessing" ? processor.single?.[0] : undefined;
    const special = (first as { SpecialToken?: { id?: string } } | undefined)?.SpecialToken?.id;
    return special !== undefined && this.bosId !== null && this.tokenizer.token_to_id(special) === this.bosId;
  }
}

function commonPrefixLength(a: string, b: string): number {
  if (b.startsWith(a)) return a.length;
  let k = 0;
  while (k < a.length && k < b.length && a[k] === b[k]) k++;
  return k;
}

/**
 * Loads tokenizer.json, tokenizer_config.json and chat_template.jinja (when present) from a folder,
 * or from the folder of a tokenizer.json path.
 */
export async function loadHuggingFaceTokenizer(
  path: string,
  options: Omit<HuggingFaceTokenizerOptions, "source" | "chatTemplate"> = {},
): Promise<HuggingFaceTokenizer> {
  const stats = await stat(path).catch(() => undefined);
  const folder = stats?.isDirectory() === true ? path : dirname(path);
  const tokenizerPath = stats?.isDirectory() === true ? join(path, "tokenizer.json") : path;

  const tokenizerJson = await readJsonFile(tokenizerPath, "every Hugging Face model folder needs tokenizer.json");
  const configPath = join(folder, "tokenizer_config.json");
  const tokenizerConfig = (await readJsonFile(configPath, undefined, { optional: true })) ?? {};
  if (typeof tokenizerConfig !== "object" || Array.isArray(tokenizerConfig)) {
    throw new InvalidTokenizerError("tokenizer_config.json must be a JSON object", { file: configPath });
  }

  const templatePath = join(folder, "chat_template.jinja");
  const chatTemplate = await readFile(templatePath, "utf8").catch(() => undefined);
  return new HuggingFaceTokenizer(tokenizerJson, tokenizerConfig as Record<string, unknown>, {
    ...options,
    chatTemplate,
    source: tokenizerPath,
  });
}
