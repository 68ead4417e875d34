// Axis scales of the SVG charts: linear and log10 mappings from data values to pixels, with tick values
// that read well (1, 2, 5 steps) and tick labels without floating-point noise.
import { InvalidArgumentError } from "@elitekv/core";

export type ScaleKind = "linear" | "log";

export interface AxisScale {
  kind: ScaleKind;
  /** Data values [low, high] mapped to `range`. */
  domain: [number, number];
  /** Pixels [at low, at high]. The y axis passes them reversed so that values grow upwards. */
  range: [number, number];
  ticks: number[];
  /** Maps a data value to a pixel coordinate. */
  map(value: number): number;
}

/** Returns about `count` evenly spaced tick values in [min, max] with a step of 1, 2 or 5 times a power of ten. */
export function niceLinearTicks(min: number, max: number, count = 5): number[] {
  requireFiniteRange(min, max);
  if (min === max) return [min];

  const step = niceStep((max - min) / Math.max(1, count));
  const first = Math.ceil(min / step - 1e-9);
  const last = Math.floor(max / step + 1e-9);
  const ticks: number[] = [];
  for (let i = first; i <= last; i++) ticks.push(roundNoise(i * step));
  return ticks;
}

/**
 * Returns tick values of a log axis over [min, max], both positive. Over more than three decades the
 * ticks are powers of ten. Over fewer they are 1, 2 and 5 times a power of ten, then 1 to 9 times a
 * power of ten when that gives fewer than three ticks. A range too narrow for any of these, such as
 * [4.07, 4.5], gets linear ticks, which still sit at their log positions.
 */
export function logTicks(min: number, max: number): number[] {
  requireFiniteRange(min, max);
  if (!(min > 0)) {
    throw new InvalidArgumentError(`a log scale needs positive values, got the range [${min}, ${max}]`, { field: "domain" });
  }

  const decades = Math.log10(max / min);
  if (decades > 3) {
    const stride = Math.ceil(decades / 8);
    const ticks: number[] = [];
    for (let exponent = Math.ceil(Math.log10(min) - 1e-9); exponent <= Math.floor(Math.log10(max) + 1e-9); exponent++) {
      if (exponent % stride === 0) ticks.push(powerOfTen(1, exponent));
    }
    return ticks;
  }

  const standard = mantissaTicks(min, max, [1, 2, 5]);
  if (standard.length >= 3) return standard;
  const dense = mantissaTicks(min, max, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  if (dense.length >= 3) return dense;
  return niceLinearTicks(min, max);
}

export function linearScale(domain: [number, number], range: [number, number], ticks?: number[]): AxisScale {
  const [low, high] = domain;
  requireFiniteRange(low, high);
  const span = high - low;
  return {
    kind: "linear",
    domain,
    range,
    ticks: ticks ?? niceLinearTicks(low, high),
    map: (value) => (span === 0 ? (range[0] + range[1]) / 2 : range[0] + ((value - low) / span) * (range[1] - range[0])),
  };
}

export function logScale(domain: [number, number], range: [number, number], ticks?: number[]): AxisScale {
  const [low, high] = domain;
  const tickValues = ticks ?? logTicks(low, high);
  const logLow = Math.log10(low);
  const span = Math.log10(high) - logLow;
  return {
    kind: "log",
    domain,
    range,
    ticks: tickValues,
    map: (value) => (span === 0 ? (range[0] + range[1]) / 2 : range[0] + ((Math.log10(value) - logLow) / span) * (range[1] - range[0])),
  };
}

/**
 * Returns a domain that contains every value with a margin of `padding` of its span on each side: a
 * fraction of the span on a linear axis, of the span in decades on a log axis. A single value gets a
 * span of its own size (linear) or a factor of two each way (log).
 */
export function paddedDomain(values: readonly number[], kind: ScaleKind, padding = 0.05): [number, number] {
  const finite = values.filter((value) => Number.isFinite(value) && (kind === "linear" || value > 0));
  if (finite.length === 0) {
    throw new InvalidArgumentError(
      kind === "log" ? "a log axis needs at least one positive finite value" : "an axis needs at least one finite value",
      { field: "values" },
    );
  }

  const min = Math.min(...finite);
  const max = Math.max(...finite);
  if (kind === "log") {
    if (min === max) return [min / 2, max * 2];
    const margin = Math.log10(max / min) * padding;
    return [min / 10 ** margin, max * 10 ** margin];
  }

  if (min === max) {
    const half = min === 0 ? 1 : Math.abs(min) / 2;
    return [min - half, max + half];
  }
  const margin = (max - min) * padding;
  return [min - margin, max + margin];
}

/** Formats a tick value with up to six significant digits and no trailing zeros. */
export function formatTick(value: number): string {
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude >= 1e6 || magnitude < 1e-4) return value.toExponential(1).replace(/\.0e/, "e");
  return String(Number(value.toPrecision(6)));
}

function mantissaTicks(min: number, max: number, mantissas: readonly number[]): number[] {
  const ticks: number[] = [];
  for (let exponent = Math.floor(Math.log10(min)) - 1; exponent <= Math.ceil(Math.log10(max)); exponent++) {
    for (const mantissa of mantissas) {
      const value = powerOfTen(mantissa, exponent);
      if (value >= min * (1 - 1e-12) && value <= max * (1 + 1e-12)) ticks.push(value);
    }
  }
  return ticks;
}

/** Returns mantissa · 10^exponent, dividing for negative exponents so that 3 · 10^-1 is exactly 0.3. */
function powerOfTen(mantissa: number, exponent: number): number {
  return exponent >= 0 ? mantissa * 10 ** exponent : mantissa / 10 ** -exponent;
}

function niceStep(rough: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const residual = rough / magnitude;
  // The nearest of 1, 2, 5 and 10, so that the tick count stays close to the requested count.
  if (residual < 1.5) return roundNoise(magnitude);
  if (residual < 3) return roundNoise(2 * magnitude);
  if (residual < 7) return roundNoise(5 * magnitude);
  return roundNoise(10 * magnitude);
}

/** Removes binary rounding noise such as 0.30000000000000004. */
function roundNoise(value: number): number {
  return Number(value.toPrecision(12));
}

function requireFiniteRange(min: number, max: number): void {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) {
    throw new InvalidArgumentError(`an axis range must be two finite numbers, low first, got [${min}, ${max}]`, { field: "domain" });
  }
}
