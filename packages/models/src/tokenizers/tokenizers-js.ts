// Typed access to @huggingface/tokenizers 0.2.0 (tokenizers.js).
//
// NOTE: its .d.ts files import each other without file extensions, which NodeNext resolution cannot
// follow, so every export arrives untyped. These interfaces describe the subset used here, as declared
// in the package's types/ folder; recheck them when the version changes.
import * as tokenizersJsModule from "@huggingface/tokenizers";

export interface TokenizersJsEncoding {
  /** An entry is undefined for a piece outside the vocabulary when the model has no unk token. */
  ids: Array<number | undefined>;
  tokens: string[];
}

export interface TokenizersJsDecoder {
  decode_chain(tokens: string[]): string[];
}

export interface TokenizersJsByteFallbackDecoder extends TokenizersJsDecoder {
  text_decoder: { decode(input: Uint8Array): string };
}

export interface TokenizersJsSequenceDecoder extends TokenizersJsDecoder {
  decoders: TokenizersJsDecoder[];
}

export interface TokenizersJsTokenizer {
  model: { vocab: Array<string | undefined> } | null;
  decoder: TokenizersJsDecoder | null;
  encode(text: string, options?: { add_special_tokens?: boolean }): TokenizersJsEncoding;
  decode(ids: number[], options?: { skip_special_tokens?: boolean }): string;
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
}

interface TokenizersJs {
  Tokenizer: new (tokenizerJson: object, tokenizerConfig: object) => TokenizersJsTokenizer;
  ByteFallbackDecoder: abstract new (...args: never[]) => TokenizersJsByteFallbackDecoder;
  SequenceDecoder: abstract new (...args: never[]) => TokenizersJsSequenceDecoder;
}

export const tokenizersJs = tokenizersJsModule as unknown as TokenizersJs;
