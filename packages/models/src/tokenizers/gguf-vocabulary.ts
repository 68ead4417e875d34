// The tokenizer fields of a GGUF file (`tokenizer.ggml.*`, `tokenizer.chat_template`), read with
// strict element types and counts: scores must be FLOAT32 and token types INT32, one per token.
import { InvalidTokenizerError } from "@elitekv/core";
import { GGUFValueType } from "@huggingface/gguf";

import type { GgufMetadata } from "../gguf/gguf-metadata.js";

/** llama.cpp token types (`tokenizer.ggml.token_type`). */
export const GgufTokenType = {
  undefined: 0,
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;

export type GgufTokenizerModel = "llama" | "gpt2";

export interface GgufVocabulary {
  file: string;
  model: GgufTokenizerModel;
  /** `tokenizer.ggml.pre`, which selects the pre-tokenizer of "gpt2" vocabularies. */
  pre: string | undefined;
  tokens: string[];
  /** SentencePiece piece scores ("llama" only), zeros when the file has none. */
  scores: number[];
  tokenTypes: number[];
  /** BPE merges as [left, right] ("gpt2" only). */
  merges: Array<[string, string]>;
  bosId: number | null;
  eosId: number | null;
  /** End-of-turn and end-of-message ids, which also end generation (Llama 3 style chats). */
  extraEosIds: number[];
  unknownId: number | null;
  /** Whether the model expects BOS in front of every prompt. */
  addBos: boolean;
  /** SentencePiece dummy prefix: a "▁" in front of the text ("llama" only). */
  addSpacePrefix: boolean;
  chatTemplate: string | undefined;
}

/**
 * Reads the vocabulary fields. Throws InvalidTokenizerError for a missing or unknown tokenizer model and
 * CorruptFileError (from GgufMetadata) for arrays of the wrong element type or length.
 */
export function readGgufVocabulary(metadata: GgufMetadata): GgufVocabulary {
  const file = metadata.path;
  const modelKey = "tokenizer.ggml.model";
  const model = metadata.string(modelKey);
  if (model === undefined) {
    throw new InvalidTokenizerError("the file has no vocabulary; it cannot tokenize text", { file, field: modelKey });
  }
  if (model !== "llama" && model !== "gpt2") {
    throw new InvalidTokenizerError(
      `tokenizer model "${model}" is not supported (supported: "llama" SentencePiece and "gpt2" byte-level BPE)`,
      { file, field: modelKey },
    );
  }

  const tokens = metadata.stringArray("tokenizer.ggml.tokens");
  if (tokens === undefined || tokens.length === 0) {
    throw new InvalidTokenizerError("the token list is missing or empty", { file, field: "tokenizer.ggml.tokens" });
  }
  const perToken = { length: tokens.length, source: "tokenizer.ggml.tokens" };
  const scores =
    (metadata.typedArray("tokenizer.ggml.scores", GGUFValueType.FLOAT32, perToken) as number[] | undefined) ??
    new Array<number>(tokens.length).fill(0);
  const tokenTypes =
    (metadata.typedArray("tokenizer.ggml.token_type", GGUFValueType.INT32, perToken) as number[] | undefined) ??
    new Array<number>(tokens.length).fill(GgufTokenType.normal);

  const tokenId = (key: string): number | null => {
    const id = metadata.integer(key);
    if (id === undefined) return null;
    if (id >= tokens.length) {
      throw new InvalidTokenizerError(`id ${id} is outside the ${tokens.length}-token vocabulary`, { file, field: key });
    }
    return id;
  };

  const pre = metadata.string("tokenizer.ggml.pre");
  const bosId = tokenId("tokenizer.ggml.bos_token_id");
  const eosId = tokenId("tokenizer.ggml.eos_token_id");
  const extraEosIds = [tokenId("tokenizer.ggml.eot_token_id"), tokenId("tokenizer.ggml.eom_token_id")].filter(
    (id): id is number => id !== null && id !== eosId,
  );

  // Defaults follow llama.cpp: SentencePiece vocabularies and Llama 3 ("llama-bpe") add BOS, others do not.
  const addBos = metadata.bool("tokenizer.ggml.add_bos_token") ?? (model === "llama" || pre === "llama-bpe");
  const addSpacePrefix = metadata.bool("tokenizer.ggml.add_space_prefix") ?? model === "llama";

  return {
    file,
    model,
    pre,
    tokens,
    scores,
    tokenTypes,
    merges: model === "gpt2" ? readMerges(metadata) : [],
    bosId,
    eosId,
    extraEosIds,
    unknownId: tokenId("tokenizer.ggml.unknown_token_id"),
    addBos,
    addSpacePrefix,
    chatTemplate: metadata.string("tokenizer.chat_template"),
  };
}

function readMerges(metadata: GgufMetadata): Array<[string, string]> {
  const key = "tokenizer.ggml.merges";
  const merges = metadata.stringArray(key);
  if (merges === undefined) {
    throw new InvalidTokenizerError("a gpt2 (BPE) vocabulary needs its merges", { file: metadata.path, field: key });
  }
  // Byte-level pieces never contain a literal space ("Ġ" stands for it), so a merge has exactly one.
  return merges.map((merge, index) => {
    const parts = merge.split(" ");
    if (parts.length !== 2 || parts[0] === "" || parts[1] === "") {
      throw new InvalidTokenizerError(`merge ${index} ("${merge}") is not two pieces separated by one space`, {
        file: metadata.path,
        field: key,
      });
    }
    return [parts[0], parts[1]];
  });
}
