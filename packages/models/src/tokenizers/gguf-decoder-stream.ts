// Incremental UTF-8 decoding of token bytes: a character split over several tokens (byte-fallback
// pieces, or byte-level BPE pieces cut inside a code point) is held back until it is complete, so a
// completed character never comes out as U+FFFD.
import type { TokenDecoderStream } from "@elitekv/core";

const replacement = "\uFFFD";

export interface ByteDecoderOptions {
  /** Returns the bytes a token stands for (empty for tokens that decode to nothing). */
  bytesOf: (id: number) => Uint8Array;
  /** Drops one space at the very start of the output (the SentencePiece dummy prefix). */
  stripLeadingSpace: boolean;
}

/**
 * Turns token ids into text. A byte that can never start or continue a valid UTF-8 sequence becomes
 * one U+FFFD at once. An incomplete sequence at the end waits for the next token, and `flush()` emits
 * one U+FFFD per byte still waiting.
 *
 * NOTE: Hugging Face's Rust ByteFallback decoder replaces every byte of a whole run of byte tokens when
 * any part of the run is invalid. This stream replaces only the invalid bytes and keeps the valid
 * characters around them.
 */
export class ByteDecoderStream implements TokenDecoderStream {
  private pending: number[] = [];
  private emittedAny = false;

  constructor(private readonly options: ByteDecoderOptions) {}

  push(id: number): string {
    for (const byte of this.options.bytesOf(id)) this.pending.push(byte);
    return this.drain(false);
  }

  flush(): string {
    return this.drain(true);
  }

  private drain(final: boolean): string {
    const bytes = this.pending;
    let text = "";
    let index = 0;
    while (index < bytes.length) {
      const length = sequenceLength(bytes, index);
      if (length === "incomplete") {
        if (!final) break;
        text += replacement.repeat(bytes.length - index);
        index = bytes.length;
        break;
      }
      if (length === "invalid") {
        text += replacement;
        index += 1;
        continue;
      }
      text += decodeSequence(bytes, index, length);
      index += length;
    }
    this.pending = bytes.slice(index);
    return this.stripStart(text);
  }

  private stripStart(text: string): string {
    if (text.length === 0 || this.emittedAny) return text;
    this.emittedAny = true;
    return this.options.stripLeadingSpace && text.startsWith(" ") ? text.slice(1) : text;
  }
}

/**
 * Length of the UTF-8 sequence starting at `index` (Unicode's well-formed byte sequences, table 3-7),
 * "invalid" when that byte cannot start one or a continuation byte is wrong, "incomplete" when the
 * bytes so far are a valid prefix.
 */
function sequenceLength(bytes: readonly number[], index: number): number | "invalid" | "incomplete" {
  const lead = bytes[index];
  if (lead < 0x80) return 1;

  let length: number;
  let secondLow = 0x80;
  let secondHigh = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead === 0xe0) secondLow = 0xa0;
    if (lead === 0xed) secondHigh = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead === 0xf0) secondLow = 0x90;
    if (lead === 0xf4) secondHigh = 0x8f;
  } else {
    return "invalid";
  }

  for (let offset = 1; offset < length; offset++) {
    if (index + offset >= bytes.length) return "incomplete";
    const byte = bytes[index + offset];
    const low = offset === 1 ? secondLow : 0x80;
    const high = offset === 1 ? secondHigh : 0xbf;
    if (byte < low || byte > high) return "invalid";
  }
  return length;
}

function decodeSequence(bytes: readonly number[], index: number, length: number): string {
  const lead = bytes[index];
  if (length === 1) return String.fromCharCode(lead);
  const leadMask = [0, 0, 0x1f, 0x0f, 0x07][length];
  let codePoint = lead & leadMask;
  for (let offset = 1; offset < length; offset++) codePoint = (codePoint << 6) | (bytes[index + offset] & 0x3f);
  return String.fromCodePoint(codePoint);
}
