// Overlap between calibration and evaluation text, found by content. Hashed shingles of one text are
// looked up while a rolling hash slides over the other. Every hash hit is checked character by
// character, so a hash collision never reports a false overlap.
import { InvalidArgumentError } from "@elitekv/core";

/** A run of characters that occurs in both texts. Offsets are UTF-16 code units into each text. */
export interface SharedRun {
  firstOffset: number;
  secondOffset: number;
  length: number;
}

/** A text with the place it came from, for messages. */
export interface TextExtent {
  /** Label of the source, such as a file path. */
  label: string;
  text: string;
  /** Offset of text[0] in its source, in UTF-16 code units. It is 0 when the text starts the source. */
  offset: number;
}

/**
 * Shared runs of at least this many characters count as overlap. Disjoint parts of one corpus share
 * formulaic runs. The first 40,000 characters of the TinyStories validation text share up to 95
 * characters with the rest of its first 793,451 ("Once upon a time, there was a little girl named
 * Lily. She loved to play outside in the park"). The first 100,000 characters of WikiText-2 test share
 * up to 74 with the rest (section headings). 256 leaves a wide margin above those, while text that
 * really is reused shares far longer runs.
 */
export const defaultOverlapLength = 256;

// Polynomial rolling hash modulo the Mersenne prime 2^31 − 1. The base stays below 2^21, so every
// product h · base is below 2^52 and exact in a float64.
const modulus = 2_147_483_647;
const base = 1_000_003;

/**
 * Returns a run of at least `minLength` characters that occurs in both texts, or undefined when there
 * is none. Among several runs it returns the first one found while scanning `first` from its start,
 * extended to its full length.
 *
 * Only every stride-th shingle of `second` is indexed, with shingles of minLength − stride + 1
 * characters. Every shared run of minLength characters still contains an indexed shingle whole, so
 * no overlap is missed, and the index needs 1/stride of the memory.
 */
export function findSharedRun(first: string, second: string, minLength = defaultOverlapLength): SharedRun | undefined {
  if (!Number.isSafeInteger(minLength) || minLength < 1) {
    throw new InvalidArgumentError(`minLength must be a positive integer, got ${minLength}`, { field: "minLength" });
  }
  if (first.length < minLength || second.length < minLength) return undefined;

  const stride = Math.max(1, Math.floor(minLength / 8));
  const shingle = minLength - stride + 1;
  const index = indexShingles(second, shingle, stride);

  // base^(shingle − 1) mod modulus, the weight of the character that leaves the window.
  let leadingWeight = 1;
  for (let i = 1; i < shingle; i++) leadingWeight = (leadingWeight * base) % modulus;

  let hash = 0;
  for (let i = 0; i < first.length; i++) {
    if (i >= shingle) {
      hash = (hash - ((first.charCodeAt(i - shingle) * leadingWeight) % modulus) + modulus) % modulus;
    }
    hash = (hash * base + first.charCodeAt(i)) % modulus;
    if (i < shingle - 1) continue;

    const candidates = index.get(hash);
    if (candidates === undefined) continue;
    const start = i - shingle + 1;
    for (const candidate of candidates) {
      const run = extendMatch(first, second, start, candidate, shingle);
      if (run !== undefined && run.length >= minLength) return run;
    }
  }
  return undefined;
}

/**
 * Throws InvalidArgumentError when the calibration and evaluation texts share a run of `minLength` or
 * more characters. The message names both sources, the offsets of the run in each source and its start,
 * followed by `hint`.
 */
export function checkTextsDisjoint(
  calibration: TextExtent,
  evaluation: TextExtent,
  options: { minLength?: number; hint?: string } = {},
): void {
  const minLength = options.minLength ?? defaultOverlapLength;
  const run = findSharedRun(calibration.text, evaluation.text, minLength);
  if (run === undefined) return;

  const excerpt = calibration.text.slice(run.firstOffset, run.firstOffset + 40).replace(/\s+/g, " ");
  const hint = options.hint ?? "calibrate and evaluate on disjoint text";
  throw new InvalidArgumentError(
    `the calibration text (${calibration.label}) and the evaluation text (${evaluation.label}) overlap: they share ` +
      `${run.length} characters starting at calibration character ${calibration.offset + run.firstOffset} and ` +
      `evaluation character ${evaluation.offset + run.secondOffset} ("${excerpt}..."), so the evaluation would ` +
      `score text the conversion was fitted on; ${hint}`,
    { field: "calibration" },
  );
}

/** Maps the hash of every stride-th shingle of `text` to the offsets where it starts. */
function indexShingles(text: string, shingle: number, stride: number): Map<number, number[]> {
  const index = new Map<number, number[]>();
  for (let start = 0; start + shingle <= text.length; start += stride) {
    let hash = 0;
    for (let i = start; i < start + shingle; i++) hash = (hash * base + text.charCodeAt(i)) % modulus;
    const offsets = index.get(hash);
    if (offsets === undefined) index.set(hash, [start]);
    else offsets.push(start);
  }
  return index;
}

/**
 * Checks that first[firstStart ..] and second[secondStart ..] agree on `shingle` characters, then
 * extends the match in both directions. Returns undefined for a hash collision.
 */
function extendMatch(first: string, second: string, firstStart: number, secondStart: number, shingle: number): SharedRun | undefined {
  for (let i = 0; i < shingle; i++) {
    if (first.charCodeAt(firstStart + i) !== second.charCodeAt(secondStart + i)) return undefined;
  }

  let before = 0;
  while (firstStart - before > 0 && secondStart - before > 0 && first.charCodeAt(firstStart - before - 1) === second.charCodeAt(secondStart - before - 1)) {
    before++;
  }
  let after = shingle;
  while (firstStart + after < first.length && secondStart + after < second.length && first.charCodeAt(firstStart + after) === second.charCodeAt(secondStart + after)) {
    after++;
  }
  return { firstOffset: firstStart - before, secondOffset: secondStart - before, length: before + after };
}
