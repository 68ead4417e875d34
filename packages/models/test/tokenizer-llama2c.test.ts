import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

import { describe, expect, it } from "vitest";

import { CorruptFileError, InvalidTokenizerError } from "@elitekv/core";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";

import { Llama2cTokenizer, parseLlama2cTokenizer, readLlama2cTokenizer } from "../src/llama2c/index.js";
import { basePieces, encodeLlama2cTokenizer } from "./fixtures/llama2c-files.js";
import { seededRandom } from "./fixtures/tiny-llama.js";

function tokenizerFrom(pieces: ReadonlyArray<string | Uint8Array>, scores?: readonly number[]): Llama2cTokenizer {
  return new Llama2cTokenizer(parseLlama2cTokenizer(encodeLlama2cTokenizer(pieces, scores), "toy.bin"), "toy.bin");
}

/**
 * run.c encode() transcribed directly: rescans every adjacent pair after each merge. Quadratic, so only
 * for short texts; it checks the heap-based merge in the library.
 */
function referenceEncode(pieces: readonly Uint8Array[], scores: Float32Array, text: string, bos: boolean): number[] {
  const key = (piece: Uint8Array) => Buffer.from(piece).toString("latin1");
  const lookup = new Map<string, number>();
  pieces.forEach((piece, id) => {
    if (!lookup.has(key(piece))) lookup.set(key(piece), id);
  });

  const tokens: number[] = bos ? [1] : [];
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > 0) tokens.push(lookup.get(" ") as number);
  let buffer: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    if ((bytes[i] & 0xc0) !== 0x80) buffer = [];
    buffer.push(bytes[i]);
    if (((i + 1 < bytes.length ? bytes[i + 1] : 0) & 0xc0) === 0x80 && buffer.length < 4) continue;
    const id = lookup.get(Buffer.from(buffer).toString("latin1"));
    if (id !== undefined) tokens.push(id);
    else tokens.push(...buffer.map((byte) => byte + 3));
    buffer = [];
  }

  for (;;) {
    let bestScore = -1e10;
    let bestId = -1;
    let bestIndex = -1;
    for (let i = 0; i < tokens.length - 1; i++) {
      const id = lookup.get(key(pieces[tokens[i]]) + key(pieces[tokens[i + 1]]));
      if (id !== undefined && scores[id] > bestScore) {
        bestScore = scores[id];
        bestId = id;
        bestIndex = i;
      }
    }
    if (bestIndex === -1) break;
    tokens.splice(bestIndex, 2, bestId);
  }
  return tokens;
}

/** Returns the first `count` code points of the file, the slice the golden files describe. */
function codePointPrefix(path: string, count: number): string {
  return Array.from(readFileSync(path, "utf8")).slice(0, count).join("");
}

describe("llama2.c tokenizer encode", () => {
  const pieces = [...basePieces(), " ", "a", "b", "ab", "ba", " a", "é"];
  const id = (piece: string) => pieces.indexOf(piece);
  // Scores of -1e10 and below never merge, so only the pairs a test scores higher can merge.
  const scoresFor = (chosen: Record<string, number>, others: number) => pieces.map((piece) => chosen[piece] ?? others);

  it("adds BOS and the dummy prefix", () => {
    const tokenizer = tokenizerFrom(pieces);
    expect(tokenizer.encode("", { addBos: true })).toEqual([1]);
    expect(tokenizer.encode("")).toEqual([]);
    expect(tokenizer.encode("b")).toEqual([id(" "), id("b")]);
  });

  it("merges the leftmost pair on equal scores", () => {
    const scores = scoresFor({ ab: 1, ba: 1 }, -1e10);
    expect(tokenizerFrom(pieces, scores).encode("aba")).toEqual([id(" "), id("ab"), id("a")]);
  });

  it("merges the highest score first", () => {
    const scores = scoresFor({ ab: 1, ba: 2 }, -1e10);
    expect(tokenizerFrom(pieces, scores).encode("aba")).toEqual([id(" "), id("a"), id("ba")]);
  });

  it("never merges at or below -1e10", () => {
    const scores = scoresFor({ ab: -1e10, ba: 3 }, -2e10);
    expect(tokenizerFrom(pieces, scores).encode("ab")).toEqual([id(" "), id("a"), id("b")]);
  });

  it("looks up whole characters", () => {
    expect(tokenizerFrom(pieces).encode("é")).toEqual([id(" "), id("é")]);
  });

  it("falls back to bytes plus 3", () => {
    // U+1F600 is F0 9F 98 80 in UTF-8 and has no piece.
    expect(tokenizerFrom(pieces).encode("😀")).toEqual([id(" "), 0xf0 + 3, 0x9f + 3, 0x98 + 3, 0x80 + 3]);
  });

  it("needs the space piece for the dummy prefix", () => {
    const tokenizer = tokenizerFrom(["<unk>", "\n<s>\n", "\n</s>\n", "a"]);
    expect(() => tokenizer.encode("a")).toThrow(InvalidTokenizerError);
  });
});

describe("llama2.c tokenizer decode", () => {
  // The TOK-03 toy vocabulary: ids 3..8 are the pieces of [BOS, ▁Once, ▁upon, <0x0A>, ▁a, <0xE2>, <0x82>].
  const pieces = ["<unk>", "\n<s>\n", "\n</s>\n", " Once", " upon", "<0x0A>", " a", "<0xE2>", "<0x82>", "<0xAC>"];
  const ids = [1, 3, 4, 5, 6, 7, 8];

  it("strips the space after BOS and decodes byte pieces", () => {
    expect(tokenizerFrom(pieces).decode(ids)).toBe("Once upon\n a\uFFFD\uFFFD");
  });

  it("keeps the leading space without BOS", () => {
    expect(tokenizerFrom(pieces).decode([3, 4])).toBe(" Once upon");
  });

  it("streams the same text and holds back partial bytes", () => {
    const stream = tokenizerFrom(pieces).createDecoderStream();
    const pushed = ids.map((tokenId) => stream.push(tokenId));
    expect(pushed).toEqual(["", "Once", " upon", "\n", " a", "", ""]);
    expect(stream.flush()).toBe("\uFFFD\uFFFD");
  });

  it("emits a split character whole", () => {
    const stream = tokenizerFrom(pieces).createDecoderStream();
    expect([7, 8, 9].map((tokenId) => stream.push(tokenId))).toEqual(["", "", "€"]);
    expect(stream.flush()).toBe("");
  });

  it("decodes unknown ids to U+FFFD", () => {
    expect(tokenizerFrom(pieces).decode([3, 99, -1])).toBe(" Once\uFFFD\uFFFD");
  });
});

describe("llama2.c tokenizer file", () => {
  it("rejects a piece running past the end", () => {
    const bytes = encodeLlama2cTokenizer(["<unk>", "\n<s>\n", "\n</s>\n", "abc"]);
    const error = (() => {
      try {
        parseLlama2cTokenizer(bytes.subarray(0, bytes.byteLength - 1), "cut.bin");
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(CorruptFileError);
    expect((error as CorruptFileError).field).toBe("token 3");
    expect((error as Error).message).toContain("cut.bin");
  });

  it("rejects a length above max_token_length", () => {
    const bytes = encodeLlama2cTokenizer(["<unk>", "\n<s>\n", "\n</s>\n", "abc"]);
    new DataView(bytes.buffer).setInt32(0, 2, true);
    expect(() => parseLlama2cTokenizer(bytes, "long.bin")).toThrow(/max_token_length/);
  });

  it("names JSON passed as a tokenizer", () => {
    const json = new TextEncoder().encode('{\n  "version": "1.0",\n  "model": {}\n}');
    expect(() => parseLlama2cTokenizer(json, "tokenizer.json")).toThrow(InvalidTokenizerError);
    expect(() => parseLlama2cTokenizer(json, "tokenizer.json")).toThrow(
      "tokenizer.json: the file starts with '{', so it is JSON (a Hugging Face tokenizer.json?), not a llama2.c tokenizer",
    );
  });

  it("rejects a non-positive max_token_length", () => {
    expect(() => parseLlama2cTokenizer(new Uint8Array(4), "zero.bin")).toThrow(CorruptFileError);
  });
});

describe.skipIf(!hasShared)("llama2.c tokenizer goldens", () => {
  const golden = hasShared
    ? JSON.parse(readFileSync(sharedPath("models", "stories260K", "golden.json"), "utf8"))
    : undefined;

  it("reproduces stories260K TinyStories ids", async () => {
    const tokenizer = await readLlama2cTokenizer(sharedPath("models", "stories260K", "tok512.bin"));
    const text = codePointPrefix(sharedPath("data", "tinystories-valid-prefix", "tinystories_val.txt"), 40000);
    expect(createHash("sha256").update(text).digest("hex")).toBe(golden.eval_text.sha256_of_slice);

    const ids = tokenizer.encode(text, { addBos: true });
    expect(ids).toHaveLength(golden.token_ids.length);
    expect(ids).toEqual(golden.token_ids);
    expect(tokenizer.decode(ids)).toBe(text);
  });

  it("reproduces stories260K WikiText-2 ids", async () => {
    const tokenizer = await readLlama2cTokenizer(sharedPath("models", "stories260K", "tok512.bin"));
    const text = codePointPrefix(sharedPath("data", "wikitext-2-raw", "wikitext2_test_joined.txt"), 40000);
    expect(createHash("sha256").update(text).digest("hex")).toBe(golden.wikitext2.eval_text.sha256_of_slice);
    expect(tokenizer.encode(text, { addBos: true })).toEqual(golden.wikitext2.token_ids);
  });

  it("matches a transcription of run.c encode", async () => {
    const path = sharedPath("models", "stories260K", "tok512.bin");
    const vocabulary = parseLlama2cTokenizer(readFileSync(path), path);
    const tokenizer = new Llama2cTokenizer(vocabulary, path);
    const text = codePointPrefix(sharedPath("data", "wikitext-2-raw", "wikitext2_test_joined.txt"), 20000);
    const random = seededRandom(7);
    for (let sample = 0; sample < 25; sample++) {
      const start = Math.floor(((random() + 1) / 2) * 19000);
      const slice = text.slice(start, start + 200) + " ünïcødé ✓ 😀";
      expect(tokenizer.encode(slice, { addBos: true })).toEqual(referenceEncode(vocabulary.pieces, vocabulary.scores, slice, true));
    }
  });

  it("decodes the aidreams260K greedy text", async () => {
    const aidreams = JSON.parse(readFileSync(sharedPath("models", "aidreams260K", "golden.json"), "utf8"));
    const tokenizer = await readLlama2cTokenizer(sharedPath("models", "aidreams260K", "tok512.bin"));
    expect(tokenizer.decode([1, ...aidreams.greedy_from_bos.ids])).toBe(aidreams.greedy_from_bos.text);
  });
});
