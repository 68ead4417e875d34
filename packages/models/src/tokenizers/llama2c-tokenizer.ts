// The llama2.c tokenizer (`tok*.bin`): the file format, and encode/decode that reproduce run.c from
// karpathy/llama2.c. Pieces are byte strings; merges are greedy by score, not by rank.
import { CorruptFileError, InvalidTokenizerError, type EncodeOptions, type TokenDecoderStream, type Tokenizer } from "@elitekv/core";

import { closeBinaryFile, openBinaryFile, readBytes } from "../safetensors/binary-file.js";
import { replacementCharacter, Utf8ByteDecoder } from "./utf8-byte-decoder.js";
import { mergePiecesByScore } from "./llama2c-merge.js";

/** Fixed ids of the llama2.c vocabulary (SentencePiece LLaMA layout). */
export const llama2cBosId = 1;
export const llama2cEosId = 2;
/** Byte b without a piece of its own is encoded as id b + 3 (the `<0x00>` .. `<0xFF>` pieces). */
const byteFallbackOffset = 3;

/** run.c starts the best merge score at -1e10, so pairs scoring at or below it never merge. */
const minimumMergeScore = -1e10;

const damagedHint = "the file is truncated, damaged or not a llama2.c tokenizer; pass the tok*.bin the model was trained with";

export interface Llama2cVocabulary {
  /** Maximum piece length in bytes, as declared by the file. */
  maxTokenLength: number;
  pieces: Uint8Array[];
  scores: Float32Array;
}

/**
 * Parses a llama2.c tokenizer file: int32 max_token_length, then per token a float32 score, an int32
 * byte length and the bytes, to the end of the file. Every length is checked against the bytes left.
 */
export function parseLlama2cTokenizer(bytes: Uint8Array, file: string): Llama2cVocabulary {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4) {
    throw new CorruptFileError(`file has ${bytes.byteLength} bytes, too short for the 4-byte max_token_length header`, {
      file,
      field: "max_token_length",
    });
  }

  // JSON text has no NUL bytes, while a plausible max_token_length (below 2^24) has a zero 4th byte.
  if (bytes[0] === 0x7b && bytes[3] !== 0) {
    throw new InvalidTokenizerError(
      "the file starts with '{', so it is JSON (a Hugging Face tokenizer.json?), not a llama2.c tokenizer; " +
        "pass the tok*.bin the model was trained with",
      { file },
    );
  }

  const maxTokenLength = view.getInt32(0, true);
  if (maxTokenLength <= 0) {
    throw new CorruptFileError(`max_token_length must be positive, got ${maxTokenLength}; is this a llama2.c tokenizer?`, {
      file,
      field: "max_token_length",
    });
  }

  const pieces: Uint8Array[] = [];
  const scores: number[] = [];
  let offset = 4;
  while (offset < bytes.byteLength) {
    const field = `token ${pieces.length}`;
    if (offset + 8 > bytes.byteLength) {
      throw new CorruptFileError(`file ends inside the score and length of ${field} (offset ${offset}); ${damagedHint}`, {
        file,
        field,
      });
    }
    const score = view.getFloat32(offset, true);
    const length = view.getInt32(offset + 4, true);
    offset += 8;
    if (length < 0 || length > maxTokenLength) {
      throw new CorruptFileError(`piece length ${length} is outside 0..max_token_length (${maxTokenLength}); ${damagedHint}`, {
        file,
        field,
      });
    }
    if (offset + length > bytes.byteLength) {
      throw new CorruptFileError(`piece of ${length} bytes at offset ${offset} runs past the end of the file; ${damagedHint}`, {
        file,
        field,
      });
    }
    pieces.push(bytes.slice(offset, offset + length));
    scores.push(score);
    offset += length;
  }

  if (pieces.length <= llama2cEosId) {
    throw new InvalidTokenizerError(`tokenizer has ${pieces.length} tokens; llama2.c needs at least <unk>, BOS and EOS`, {
      file,
    });
  }
  return { maxTokenLength, pieces, scores: Float32Array.from(scores) };
}

/** Reads and parses a llama2.c tokenizer file. */
export async function readLlama2cTokenizer(path: string): Promise<Llama2cTokenizer> {
  const file = await openBinaryFile(path, "pass the llama2.c tokenizer file (tok*.bin) with --tokenizer");
  try {
    const bytes = await readBytes(file, 0, file.size, "tokenizer");
    return new Llama2cTokenizer(parseLlama2cTokenizer(bytes, path), path);
  } finally {
    await closeBinaryFile(file);
  }
}

/** Returns the byte a `<0xXX>` piece stands for, or -1; run.c parses it with sscanf("<0x%02hhX>"). */
function bytePieceValue(piece: Uint8Array): number {
  if (piece.length < 4 || piece[0] !== 0x3c || piece[1] !== 0x30 || piece[2] !== 0x78) return -1;
  let value = -1;
  for (let k = 3; k < piece.length && k < 5; k++) {
    const digit = hexDigit(piece[k]);
    if (digit < 0) break;
    value = value < 0 ? digit : value * 16 + digit;
  }
  return value;
}

/** Returns the bytes a piece decodes to: the piece itself, or the single byte of a `<0xXX>` piece. */
function decodePiece(piece: Uint8Array): Uint8Array {
  const byte = bytePieceValue(piece);
  return byte >= 0 ? Uint8Array.of(byte) : piece;
}

function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10;
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10;
  return -1;
}

/** Returns the piece as a string of byte values (latin1), cut at the first NUL like a C string. */
function pieceKey(piece: Uint8Array): string {
  let end = piece.indexOf(0);
  if (end < 0) end = piece.length;
  let key = "";
  for (let k = 0; k < end; k++) key += String.fromCharCode(piece[k]);
  return key;
}

export class Llama2cTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number = llama2cBosId;
  readonly eosIds: readonly number[] = [llama2cEosId];
  readonly maxTokenLength: number;

  private readonly pieces: Uint8Array[];
  private readonly scores: Float32Array;
  private readonly keys: string[];
  private readonly idsByKey = new Map<string, number>();
  /** Bytes each id decodes to, from decodePiece. */
  private readonly decodedBytes: Uint8Array[];
  private readonly source: string;

  constructor(vocabulary: Llama2cVocabulary, source = "llama2.c tokenizer") {
    this.pieces = vocabulary.pieces;
    this.scores = vocabulary.scores;
    this.maxTokenLength = vocabulary.maxTokenLength;
    this.vocabSize = vocabulary.pieces.length;
    this.source = source;

    this.keys = this.pieces.map(pieceKey);
    // run.c finds pieces by binary search; with duplicate pieces the lowest id is used here.
    this.keys.forEach((key, id) => {
      if (!this.idsByKey.has(key)) this.idsByKey.set(key, id);
    });

    this.decodedBytes = this.pieces.map(decodePiece);
  }

  /** Returns the raw bytes of the piece for `id`. */
  piece(id: number): Uint8Array {
    this.checkId(id);
    return this.pieces[id];
  }

  /** Returns the id of the piece equal to `piece` (UTF-8 encoded), or undefined. */
  pieceId(piece: string): number | undefined {
    return this.idsByKey.get(pieceKey(new TextEncoder().encode(piece)));
  }

  /**
   * Encodes like run.c encode(). The ids start with an optional BOS and, for non-empty text, the
   * dummy-prefix " " piece. Each UTF-8 character becomes its piece, or its bytes + 3 without one.
   * Then the adjacent pair whose merged piece scores highest merges, repeatedly (leftmost on ties).
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids: number[] = [];
    if (options.addBos === true) ids.push(llama2cBosId);

    const bytes = new TextEncoder().encode(text);
    if (bytes.length > 0) {
      const space = this.idsByKey.get(" ");
      if (space === undefined) {
        throw new InvalidTokenizerError('tokenizer has no " " piece, which llama2.c uses as the dummy prefix', {
          file: this.source,
        });
      }
      ids.push(space);
    }

    this.appendCharacters(bytes, ids);
    return mergePiecesByScore(ids, this.keys, this.idsByKey, this.scores, minimumMergeScore);
  }

  decode(ids: readonly number[]): string {
    const decoder = this.createDecoderStream();
    let text = "";
    for (const id of ids) text += decoder.push(id);
    return text + decoder.flush();
  }

  /**
   * Decodes like run.c decode(): BOS and EOS produce no text, the piece right after BOS loses its
   * leading space, and `<0xXX>` pieces are raw bytes. Ids outside the vocabulary decode to U+FFFD.
   */
  createDecoderStream(): TokenDecoderStream {
    const bytes = new Utf8ByteDecoder();
    let previous = -1;
    return {
      push: (id: number): string => {
        const afterBos = previous === llama2cBosId;
        previous = id;
        if (id === llama2cBosId || id === llama2cEosId) return "";
        if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) return bytes.flush() + replacementCharacter;

        if (afterBos && this.pieces[id][0] === 0x20) return bytes.push(decodePiece(this.pieces[id].subarray(1)));
        return bytes.push(this.decodedBytes[id]);
      },
      flush: (): string => bytes.flush(),
    };
  }

  /** Appends one id per UTF-8 character, or its bytes + 3 when the character has no piece. */
  private appendCharacters(bytes: Uint8Array, ids: number[]): void {
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      if ((bytes[i] & 0xc0) !== 0x80) start = i;
      const length = i - start + 1;

      // run.c keeps reading while the next byte continues the character, up to 4 bytes.
      const next = i + 1 < bytes.length ? bytes[i + 1] : 0;
      if ((next & 0xc0) === 0x80 && length < 4) continue;

      let key = "";
      for (let k = start; k <= i; k++) key += String.fromCharCode(bytes[k]);
      const id = this.idsByKey.get(key);
      if (id !== undefined) {
        ids.push(id);
      } else {
        for (let k = start; k <= i; k++) ids.push(this.byteFallbackId(bytes[k]));
      }
      start = i + 1;
    }
  }

  private byteFallbackId(byte: number): number {
    const id = byte + byteFallbackOffset;
    if (id >= this.vocabSize) {
      throw new InvalidTokenizerError(
        `byte 0x${byte.toString(16)} needs byte-fallback id ${id} but the vocabulary has ${this.vocabSize} tokens`,
        { file: this.source },
      );
    }
    return id;
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new InvalidTokenizerError(`token id ${id} is outside the vocabulary of ${this.vocabSize} tokens`, {
        file: this.source,
      });
    }
  }
}
