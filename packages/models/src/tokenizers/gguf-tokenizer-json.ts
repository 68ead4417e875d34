// Builds the tokenizer.json object that @huggingface/tokenizers loads from a GGUF vocabulary.
// SentencePiece ("llama") vocabularies become a byte-fallback BPE whose merges come from the piece
// scores, as Hugging Face's SentencePiece converter derives them. "gpt2" vocabularies become a
// byte-level BPE whose pre-tokenizer is chosen by `tokenizer.ggml.pre`.
import { InvalidTokenizerError } from "@elitekv/core";

import { GgufTokenType, type GgufVocabulary } from "./gguf-vocabulary.js";

/** SentencePiece's stand-in for a space. */
export const sentencePieceSpace = "\u2581";

// Split patterns of the Hugging Face tokenizer.json files of those model families.
const llama3Pattern =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const qwen2Pattern =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const byteLevelWithRegex = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
const byteLevelWithoutRegex = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false };

/** Normalizer and pre-tokenizer per `tokenizer.ggml.pre` value, as the matching tokenizer.json has them. */
const byteLevelPreTokenizers: Record<string, { normalizer: object | null; preTokenizer: object; ignoreMerges: boolean }> = {
  default: { normalizer: null, preTokenizer: byteLevelWithRegex, ignoreMerges: false },
  gpt2: { normalizer: null, preTokenizer: byteLevelWithRegex, ignoreMerges: false },
  // NOTE: @huggingface/tokenizers 0.2.0 splits digits with an ASCII `\d`, while the Rust library and
  // llama.cpp also split other Unicode digits one by one, so non-ASCII digits may tokenize differently.
  smollm: {
    normalizer: null,
    preTokenizer: {
      type: "Sequence",
      pretokenizers: [{ type: "Digits", individual_digits: true }, byteLevelWithRegex],
    },
    ignoreMerges: false,
  },
  "llama-bpe": {
    normalizer: null,
    preTokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: llama3Pattern }, behavior: "Isolated", invert: false },
        byteLevelWithoutRegex,
      ],
    },
    ignoreMerges: true,
  },
  qwen2: {
    normalizer: { type: "NFC" },
    preTokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: qwen2Pattern }, behavior: "Isolated", invert: false },
        byteLevelWithoutRegex,
      ],
    },
    ignoreMerges: false,
  },
};

export const supportedGgufPreTokenizers = Object.keys(byteLevelPreTokenizers);

export function buildTokenizerJson(vocabulary: GgufVocabulary): Record<string, unknown> {
  return vocabulary.model === "llama" ? sentencePieceJson(vocabulary) : byteLevelJson(vocabulary);
}

/** Maps piece to id. A repeated piece maps to its last id, as in a tokenizer.json object and llama.cpp. */
function vocabularyObject(tokens: readonly string[]): Record<string, number> {
  const vocab: Record<string, number> = Object.create(null);
  tokens.forEach((token, id) => {
    vocab[token] = id;
  });
  return vocab;
}

/**
 * Control and unknown tokens become special added tokens and user-defined tokens plain added tokens,
 * all matched in the raw text before normalization.
 */
function addedTokens(vocabulary: GgufVocabulary): object[] {
  const added: object[] = [];
  vocabulary.tokenTypes.forEach((type, id) => {
    const special = type === GgufTokenType.control || type === GgufTokenType.unknown;
    if (!special && type !== GgufTokenType.userDefined) return;
    added.push({
      id,
      content: vocabulary.tokens[id],
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special,
    });
  });
  return added;
}

function sentencePieceJson(vocabulary: GgufVocabulary): Record<string, unknown> {
  const replaceSpace = { type: "Replace", pattern: { String: " " }, content: sentencePieceSpace };
  const normalizer = vocabulary.addSpacePrefix
    ? { type: "Sequence", normalizers: [{ type: "Prepend", prepend: sentencePieceSpace }, replaceSpace] }
    : replaceSpace;

  const decoders: object[] = [
    { type: "Replace", pattern: { String: sentencePieceSpace }, content: " " },
    { type: "ByteFallback" },
    { type: "Fuse" },
  ];
  if (vocabulary.addSpacePrefix) decoders.push({ type: "Strip", content: " ", start: 1, stop: 0 });

  return {
    version: "1.0",
    added_tokens: addedTokens(vocabulary),
    normalizer,
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: "Sequence", decoders },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: vocabulary.unknownId === null ? null : vocabulary.tokens[vocabulary.unknownId],
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: vocabularyObject(vocabulary.tokens),
      merges: sentencePieceMerges(vocabulary.tokens, vocabulary.scores),
    },
  };
}

/**
 * Derives the merges of a SentencePiece vocabulary the way transformers' SentencePieceExtractor does.
 * Every split of a piece into two pieces of the vocabulary is a merge. The splits of one piece are
 * ordered by (id of left, id of right), then all merges are stably sorted by the score of the merged
 * piece, highest first. Splits are by code point, like Python string slicing.
 */
export function sentencePieceMerges(tokens: readonly string[], scores: readonly number[]): Array<[string, string]> {
  const ids = new Map<string, number>();
  tokens.forEach((token, id) => ids.set(token, id));

  const merges: Array<{ left: string; right: string; score: number }> = [];
  const visited = new Set<string>();
  tokens.forEach((piece, id) => {
    // Python's dict keeps the first position of a repeated piece and the score of its last entry.
    if (visited.has(piece)) return;
    visited.add(piece);
    const score = scores[ids.get(piece) ?? id];

    const characters = Array.from(piece);
    const local: Array<{ left: string; right: string; leftId: number; rightId: number }> = [];
    for (let split = 1; split < characters.length; split++) {
      const left = characters.slice(0, split).join("");
      const right = characters.slice(split).join("");
      const leftId = ids.get(left);
      const rightId = ids.get(right);
      if (leftId !== undefined && rightId !== undefined) local.push({ left, right, leftId, rightId });
    }
    local.sort((a, b) => a.leftId - b.leftId || a.rightId - b.rightId);
    for (const merge of local) merges.push({ left: merge.left, right: merge.right, score });
  });

  merges.sort((a, b) => b.score - a.score);
  return merges.map((merge) => [merge.left, merge.right]);
}

function byteLevelJson(vocabulary: GgufVocabulary): Record<string, unknown> {
  const pre = vocabulary.pre ?? "default";
  const setup = byteLevelPreTokenizers[pre];
  if (setup === undefined) {
    throw new InvalidTokenizerError(
      `pre-tokenizer "${pre}" is not supported (supported: ${supportedGgufPreTokenizers.join(", ")})`,
      { file: vocabulary.file, field: "tokenizer.ggml.pre" },
    );
  }

  return {
    version: "1.0",
    added_tokens: addedTokens(vocabulary),
    normalizer: setup.normalizer,
    pre_tokenizer: setup.preTokenizer,
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: vocabulary.unknownId === null ? null : vocabulary.tokens[vocabulary.unknownId],
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: setup.ignoreMerges,
      vocab: vocabularyObject(vocabulary.tokens),
      merges: vocabulary.merges,
    },
  };
}
