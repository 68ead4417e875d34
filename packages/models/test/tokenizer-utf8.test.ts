import { describe, expect, it } from "vitest";

import { decodeUtf8Bytes, Utf8ByteDecoder } from "../src/tokenizers/utf8-byte-decoder.js";

const bytesOf = (text: string) => Array.from(new TextEncoder().encode(text));

describe("UTF-8 byte decoding", () => {
  it("decodes valid text of every length", () => {
    const text = "a é € 😀 \u0000 \u{10FFFF}";
    expect(decodeUtf8Bytes(bytesOf(text))).toBe(text);
  });

  const invalid: Array<[string, number[], string]> = [
    ["a lone continuation byte", [0x80, 0x41], "\uFFFDA"],
    ["an overlong two-byte form", [0xc0, 0x80], "\uFFFD\uFFFD"],
    ["an encoded surrogate", [0xed, 0xa0, 0x80], "\uFFFD\uFFFD\uFFFD"],
    ["a code point above U+10FFFF", [0xf4, 0x90, 0x80, 0x80], "\uFFFD\uFFFD\uFFFD\uFFFD"],
    ["a truncated sequence before ASCII", [0xe2, 0x82, 0x41], "\uFFFD\uFFFDA"],
    ["a truncated sequence at the end", [0x41, 0xf0, 0x9f, 0x98], "A\uFFFD\uFFFD\uFFFD"],
    ["bytes F5 to FF", [0xf5, 0xff], "\uFFFD\uFFFD"],
  ];
  for (const [label, bytes, expected] of invalid) {
    it(`replaces ${label} byte by byte`, () => {
      expect(decodeUtf8Bytes(bytes)).toBe(expected);
    });
  }
});

describe("UTF-8 streaming", () => {
  it("holds an emoji until its last byte", () => {
    const decoder = new Utf8ByteDecoder();
    expect([[0xf0, 0x9f], [0x98], [0x80], bytesOf("ok")].map((bytes) => decoder.push(bytes))).toEqual(["", "", "😀", "ok"]);
    expect(decoder.flush()).toBe("");
  });

  it("flushes a cut character as one U+FFFD per byte", () => {
    const decoder = new Utf8ByteDecoder();
    expect(decoder.push([0x41, 0xf0, 0x9f])).toBe("A");
    expect(decoder.flush()).toBe("\uFFFD\uFFFD");
    expect(decoder.push([0x42])).toBe("B");
  });

  it("emits invalid bytes without waiting", () => {
    const decoder = new Utf8ByteDecoder();
    expect(decoder.push([0xe2, 0x41])).toBe("\uFFFDA");
  });
});
