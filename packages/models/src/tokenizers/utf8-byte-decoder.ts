// Incremental UTF-8 decoding for byte-level tokenizers. Bytes of a character that is not complete yet
// are held back until the rest arrives. Every byte that cannot start or continue a valid character
// becomes one U+FFFD, which is the count the Hugging Face ByteFallback decoder emits for a broken run.

export const replacementCharacter = "\uFFFD";

/** Returns the length of the UTF-8 sequence that `lead` starts, or 0 when `lead` cannot start one. */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/**
 * Returns true when `byte` may follow `lead` at position `index` (1-based) of its sequence. The second
 * byte has narrower ranges after E0, ED, F0 and F4, which exclude overlong forms, surrogates and code
 * points above U+10FFFF.
 */
function isValidContinuation(lead: number, index: number, byte: number): boolean {
  if (index === 1) {
    if (lead === 0xe0) return byte >= 0xa0 && byte <= 0xbf;
    if (lead === 0xed) return byte >= 0x80 && byte <= 0x9f;
    if (lead === 0xf0) return byte >= 0x90 && byte <= 0xbf;
    if (lead === 0xf4) return byte >= 0x80 && byte <= 0x8f;
  }
  return byte >= 0x80 && byte <= 0xbf;
}

/** Turns a byte stream into text, holding back the bytes of an incomplete trailing character. */
export class Utf8ByteDecoder {
  private pending: number[] = [];

  /** Returns the text completed by `bytes` (possibly ""). */
  push(bytes: ArrayLike<number>): string {
    for (let i = 0; i < bytes.length; i++) this.pending.push(bytes[i] & 0xff);
    return this.decodePending(false);
  }

  /** Returns the held-back bytes as one U+FFFD each and resets the decoder. */
  flush(): string {
    return this.decodePending(true);
  }

  private decodePending(final: boolean): string {
    const bytes = this.pending;
    const parts: string[] = [];
    let i = 0;

    while (i < bytes.length) {
      const lead = bytes[i];
      const length = sequenceLength(lead);
      if (length === 0) {
        parts.push(replacementCharacter);
        i++;
        continue;
      }

      let valid = 1;
      while (valid < length && i + valid < bytes.length && isValidContinuation(lead, valid, bytes[i + valid])) valid++;

      if (valid === length) {
        parts.push(String.fromCodePoint(codePointOf(bytes, i, length)));
        i += length;
      } else if (i + valid === bytes.length && !final) {
        // A valid prefix of a character that runs into the end of the input: wait for more bytes.
        break;
      } else {
        for (let k = 0; k < valid; k++) parts.push(replacementCharacter);
        i += valid;
      }
    }

    this.pending = bytes.slice(i);
    return parts.join("");
  }
}

function codePointOf(bytes: readonly number[], start: number, length: number): number {
  if (length === 1) return bytes[start];
  let codePoint = bytes[start] & (0xff >> (length + 1));
  for (let k = 1; k < length; k++) codePoint = (codePoint << 6) | (bytes[start + k] & 0x3f);
  return codePoint;
}

/** Decodes a whole byte sequence, with one U+FFFD per invalid or incomplete byte. */
export function decodeUtf8Bytes(bytes: ArrayLike<number>): string {
  const decoder = new Utf8ByteDecoder();
  return decoder.push(bytes) + decoder.flush();
}
