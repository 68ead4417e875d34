// Parsers for numeric option values. They throw commander's InvalidArgumentError, which commander
// reports as "option '--x <n>' argument 'v' is invalid" and which the CLI exits with code 2 for.
import { InvalidArgumentError as InvalidOptionValueError } from "commander";

// A sign is accepted so that "-5" gets the range message, which states the values allowed.
const integerPattern = /^[+-]?\d+$/;

/** Returns a parser that accepts decimal integers in [minimum, maximum]. */
export function integerParser(minimum: number, maximum = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const trimmed = value.trim();
    const parsed = Number(trimmed);
    if (!integerPattern.test(trimmed) || !Number.isSafeInteger(parsed)) {
      throw new InvalidOptionValueError(`must be an integer, got '${value}'`);
    }
    if (parsed < minimum || parsed > maximum) {
      const range = maximum === Number.MAX_SAFE_INTEGER ? `>= ${minimum}` : `between ${minimum} and ${maximum}`;
      throw new InvalidOptionValueError(`must be an integer ${range}, got ${parsed}`);
    }
    return parsed;
  };
}

/** Parses a finite decimal number, rejecting empty strings and values such as "1e999" or "NaN". */
function parseFiniteNumber(value: string): number {
  const trimmed = value.trim();
  const parsed = Number(trimmed);
  if (trimmed === "" || !Number.isFinite(parsed)) {
    throw new InvalidOptionValueError(`must be a number, got '${value}'`);
  }
  return parsed;
}

/** Parses a sampling temperature: a number >= 0, where 0 selects greedily. */
export function parseTemperature(value: string): number {
  const parsed = parseFiniteNumber(value);
  if (parsed < 0) throw new InvalidOptionValueError(`must be a number >= 0, got ${parsed}`);
  return parsed;
}

/** Parses a nucleus (top-p) probability mass in (0, 1]. */
export function parseTopP(value: string): number {
  const parsed = parseFiniteNumber(value);
  if (!(parsed > 0 && parsed <= 1)) throw new InvalidOptionValueError(`must be in (0, 1], got ${parsed}`);
  return parsed;
}

export const parsePositiveInteger = integerParser(1);

/** Parses a sampler seed, an unsigned 32-bit integer because the sampler keeps 32 bits. */
export const parseSeed = integerParser(0, 0xffff_ffff);

/** Parses a KV cache ratio: the fraction of the full cache kept, in (0, 1]. */
export function parseCacheRatio(value: string): number {
  const parsed = parseFiniteNumber(value);
  if (!(parsed > 0 && parsed <= 1)) throw new InvalidOptionValueError(`must be a ratio in (0, 1], got ${parsed}`);
  return parsed;
}
