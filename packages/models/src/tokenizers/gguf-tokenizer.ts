// The core Tokenizer over a GGUF vocabulary: encoding runs through @huggingface/tokenizers on a
// tokenizer.json built from the file, decoding maps each token to its bytes and joins them through a
// UTF-8 stream that never splits a character.
import {
  InvalidTokenizerError,
  type ChatMessage,
  type EncodeOptions,
  type TokenDecoderStream,
  type Tokenizer,
} from "@elitekv/core";
import { Tokenizer as HuggingFaceTokenizer } from "@huggingface/tokenizers";

import { readGgufHeader } from "../gguf/gguf-header.js";
import { readGgufMetadata, type GgufMetadata } from "../gguf/gguf-metadata.js";
import { GgufChatTemplate } from "./gguf-chat-template.js";
import { ByteDecoderStream } from "./gguf-decoder-stream.js";
import { buildTokenizerJson, sentencePieceSpace } from "./gguf-tokenizer-json.js";
import { GgufTokenType, readGgufVocabulary, type GgufVocabulary } from "./gguf-vocabulary.js";

const bytePiecePattern = /^<0x([0-9A-Fa-f]{2})>$/;
const noBytes = new Uint8Array(0);
const loneSurrogatePattern = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export class GgufTokenizer implements Tokenizer {
  readonly vocabSize: number;
  /** BOS id, or null when the model does not expect BOS in front of a prompt (add_bos_token false). */
  readonly bosId: number | null;
  readonly eosIds: readonly number[];
  readonly vocabulary: GgufVocabulary;
  /** The tokenizer.json object handed to @huggingface/tokenizers. */
  readonly tokenizerJson: Record<string, unknown>;
  readonly huggingFaceTokenizer: HuggingFaceTokenizer;

  private readonly chatTemplate: GgufChatTemplate | undefined;
  private templateAddsBos: boolean | undefined;
  private readonly tokenBytes: Array<Uint8Array | undefined>;
  private readonly encoder = new TextEncoder();

  constructor(vocabulary: GgufVocabulary) {
    this.vocabulary = vocabulary;
    this.vocabSize = vocabulary.tokens.length;
    this.bosId = vocabulary.addBos ? vocabulary.bosId : null;
    this.eosIds = [...(vocabulary.eosId === null ? [] : [vocabulary.eosId]), ...vocabulary.extraEosIds];
    this.tokenBytes = new Array(vocabulary.tokens.length);

    this.tokenizerJson = buildTokenizerJson(vocabulary);
    try {
      this.huggingFaceTokenizer = new HuggingFaceTokenizer(this.tokenizerJson, {});
    } catch (error) {
      throw new InvalidTokenizerError(
        `@huggingface/tokenizers rejected the vocabulary: ${(error as Error).message}`,
        { file: vocabulary.file, field: "tokenizer.ggml.tokens", cause: error },
      );
    }

    if (vocabulary.chatTemplate !== undefined) {
      const text = (id: number | null) => (id === null ? "" : vocabulary.tokens[id]);
      this.chatTemplate = new GgufChatTemplate(vocabulary.chatTemplate, {
        bosToken: text(vocabulary.bosId),
        eosToken: text(vocabulary.eosId),
        file: vocabulary.file,
      });
    }
  }

  /**
   * Encodes `text`, matching control and user-defined tokens written in it. Lone UTF-16 surrogates
   * are replaced by U+FFFD first, as TextEncoder would.
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const wellFormed = text.replace(loneSurrogatePattern, "\uFFFD");
    const ids = this.huggingFaceTokenizer.encode(wellFormed, { add_special_tokens: false }).ids;
    for (const id of ids) {
      if (typeof id !== "number") {
        throw new InvalidTokenizerError(
          "the text contains a character the vocabulary cannot represent, and the vocabulary has no unknown token",
          { file: this.vocabulary.file, field: "tokenizer.ggml.unknown_token_id" },
        );
      }
    }
    return options.addBos === true && this.bosId !== null ? [this.bosId, ...ids] : ids;
  }

  /**
   * Decodes ids to text. Control and unknown tokens decode to nothing, and so do ids outside the
   * vocabulary (rows an embedding may have beyond the tokenizer's ids).
   */
  decode(ids: readonly number[]): string {
    const stream = this.createDecoderStream();
    let text = "";
    for (const id of ids) text += stream.push(id);
    return text + stream.flush();
  }

  createDecoderStream(): TokenDecoderStream {
    return new ByteDecoderStream({
      bytesOf: (id) => this.bytesOf(id),
      stripLeadingSpace: this.vocabulary.model === "llama" && this.vocabulary.addSpacePrefix,
    });
  }

  get applyChatTemplate():
    | ((messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }) => string)
    | undefined {
    const template = this.chatTemplate;
    if (template === undefined) return undefined;
    return (messages, options = {}) => template.render(messages, options.addGenerationPrompt ?? false);
  }

  get chatTemplateAddsBos(): boolean {
    if (this.templateAddsBos === undefined) this.templateAddsBos = this.chatTemplate?.startsWithBos() ?? false;
    return this.templateAddsBos;
  }

  /** Returns the bytes token `id` stands for. */
  bytesOf(id: number): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.tokenBytes.length) return noBytes;
    let bytes = this.tokenBytes[id];
    if (bytes === undefined) {
      bytes = this.computeBytes(id);
      this.tokenBytes[id] = bytes;
    }
    return bytes;
  }

  private computeBytes(id: number): Uint8Array {
    const type = this.vocabulary.tokenTypes[id];
    if (type === GgufTokenType.control || type === GgufTokenType.unknown) return noBytes;

    const token = this.vocabulary.tokens[id];
    if (type === GgufTokenType.userDefined) return this.encoder.encode(token);

    if (this.vocabulary.model === "llama") {
      const byte = bytePiecePattern.exec(token);
      if (byte !== null) return Uint8Array.of(Number.parseInt(byte[1], 16));
      return this.encoder.encode(token.replaceAll(sentencePieceSpace, " "));
    }
    return byteLevelBytes(token, this.encoder);
  }
}

/** Reads the vocabulary of a parsed GGUF file and builds its tokenizer. */
export function createGgufTokenizer(metadata: GgufMetadata): GgufTokenizer {
  return new GgufTokenizer(readGgufVocabulary(metadata));
}

/** Loads only the tokenizer of a GGUF file (vocabulary-only files included). */
export async function loadGgufTokenizer(path: string): Promise<GgufTokenizer> {
  const header = await readGgufHeader(path);
  return createGgufTokenizer(await readGgufMetadata(header));
}

let unicodeToByte: Map<string, number> | undefined;

/** GPT-2's byte-to-character table, inverted: printable bytes stand for themselves, the rest map to U+0100 and up. */
function byteLevelTable(): Map<string, number> {
  if (unicodeToByte === undefined) {
    unicodeToByte = new Map();
    let next = 0;
    for (let byte = 0; byte < 256; byte++) {
      const printable = (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
      const character = printable ? String.fromCharCode(byte) : String.fromCharCode(256 + next++);
      unicodeToByte.set(character, byte);
    }
  }
  return unicodeToByte;
}

/** Returns the bytes of a byte-level BPE piece. Characters outside the table (absent from well-formed vocabularies) keep their UTF-8. */
function byteLevelBytes(token: string, encoder: InstanceType<typeof TextEncoder>): Uint8Array {
  const table = byteLevelTable();
  const bytes: number[] = [];
  for (const character of token) {
    const byte = table.get(character);
    if (byte !== undefined) bytes.push(byte);
    else bytes.push(...encoder.encode(character));
  }
  return Uint8Array.from(bytes);
}
