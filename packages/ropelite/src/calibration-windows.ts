// Calibration sampling: windows of consecutive ids cut from a token stream, and the causal (t, s)
// position pairs scored inside each window. Both are deterministic for a seed.
import { createRandom, InvalidArgumentError } from "@elitekv/core";

export interface CalibrationWindowOptions {
  /** Number of windows (N). */
  windows: number;
  /** Ids per window (L). */
  length: number;
  /** Unsigned 32-bit seed of the window starts. */
  seed: number;
}

/**
 * Samples `windows` windows of `length` consecutive ids from `ids`. Start offsets are drawn uniformly
 * from 0 .. ids.length - length with the seed, so windows may overlap.
 */
export function sampleCalibrationWindows(ids: readonly number[], options: CalibrationWindowOptions): number[][] {
  requireCount(options.windows, "windows", 1);
  requireCount(options.length, "length", 1);
  requireSeed(options.seed);
  if (ids.length < options.length) {
    throw new InvalidArgumentError(
      `the calibration stream has ${ids.length} ids, fewer than one window of ${options.length}; ` +
        "use more calibration text or a shorter window",
      { field: "length" },
    );
  }

  const random = createRandom(options.seed);
  const startCount = ids.length - options.length + 1;
  const windows: number[][] = [];
  for (let w = 0; w < options.windows; w++) {
    const start = Math.floor(random.next() * startCount);
    windows.push(ids.slice(start, start + options.length));
  }
  return windows;
}

/**
 * Causal position pairs of one window, flat [t0, s0, t1, s1, ...] with 0 <= s <= t < window length.
 */
export type CausalPairs = Int32Array;

// The pair stream uses a seed different from the window stream, so that windows and pairs never share
// random draws.
const pairSeedMix = 0x5bd1e995;

/**
 * Samples `pairsPerWindow` causal pairs (t >= s, t = s included) for each of `windowCount` windows of
 * `windowLength` positions. Each pair is drawn uniformly, with replacement, from the L(L+1)/2 causal
 * pairs of a window.
 */
export function sampleCausalPairs(
  windowCount: number,
  windowLength: number,
  pairsPerWindow: number,
  seed: number,
): CausalPairs[] {
  requireCount(windowCount, "windows", 1);
  requireCount(windowLength, "windowLength", 1);
  requireCount(pairsPerWindow, "pairs", 1);
  requireSeed(seed);

  const random = createRandom((seed ^ pairSeedMix) >>> 0);
  const pairCount = (windowLength * (windowLength + 1)) / 2;
  const result: CausalPairs[] = [];
  for (let w = 0; w < windowCount; w++) {
    const pairs = new Int32Array(2 * pairsPerWindow);
    for (let p = 0; p < pairsPerWindow; p++) {
      const index = Math.floor(random.next() * pairCount);
      const [t, s] = causalPairAt(index);
      pairs[2 * p] = t;
      pairs[2 * p + 1] = s;
    }
    result.push(pairs);
  }
  return result;
}

/** Maps index k of the row-major lower triangle (row t holds t + 1 pairs) to its (t, s). */
function causalPairAt(index: number): [number, number] {
  let t = Math.floor((Math.sqrt(8 * index + 1) - 1) / 2);

  // The square root can round across a row boundary, so step back into the row that holds `index`.
  while ((t * (t + 1)) / 2 > index) t--;
  while (((t + 1) * (t + 2)) / 2 <= index) t++;

  return [t, index - (t * (t + 1)) / 2];
}

export function requireCount(value: number, field: string, minimum: number): void {
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new InvalidArgumentError(`${field} must be an integer >= ${minimum}, got ${String(value)}`, { field });
  }
}

export function requireSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new InvalidArgumentError(`seed must be an integer in [0, 2^32), got ${String(seed)}`, { field: "seed" });
  }
}
