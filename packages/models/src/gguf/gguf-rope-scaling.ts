// RoPE scaling of a GGUF llama model. llama.cpp's converter ships llama3-style scaling not as metadata
// but as a `rope_freqs.weight` tensor of per-chunk divisors (chunk j rotates by theta_j / divisor_j).
// This module recovers the RopeScaling that produces exactly those divisors and rejects a table that no
// supported scaling reproduces.
import {
  CorruptFileError,
  InvalidConfigError,
  ropeInverseFrequencies,
  type RopeConfig,
  type RopeScaling,
} from "@elitekv/core";

export const ropeFrequencyTensorName = "rope_freqs.weight";

/** Relative tolerance between the stored (float32) divisors and the ones a scaling implies. */
const factorTolerance = 1e-5;
/** Context length the llama3 scaling assumes when the file names none (Llama 3.1 and 3.2 use 8192). */
const defaultOriginalContext = 8192;

/**
 * Derives the scaling whose divisors match `factors` (one per RoPE chunk):
 * all 1 → none; all equal to c → linear c; otherwise llama3 with factor = max(factors), first with
 * low/high frequency factors 1 and 4 (what Meta's Llama 3.1 and 3.2 use) and, when those do not
 * reproduce the table, with low/high fitted to the interpolated chunks. The result is checked against
 * every entry before it is returned.
 */
export function ropeScalingFromFactors(
  factors: Float32Array,
  rope: Pick<RopeConfig, "theta" | "rotaryDim">,
  where: { file: string; originalContext?: number },
): RopeScaling {
  const field = ropeFrequencyTensorName;
  const chunks = rope.rotaryDim / 2;
  if (factors.length !== chunks) {
    throw new CorruptFileError(`has ${factors.length} entries but the model has ${chunks} RoPE chunks per head`, {
      file: where.file,
      field,
    });
  }
  for (const factor of factors) {
    if (!Number.isFinite(factor) || factor <= 0) {
      throw new CorruptFileError(`contains ${factor}; every frequency divisor must be positive and finite`, {
        file: where.file,
        field,
      });
    }
  }

  const candidates: RopeScaling[] = [];
  const first = factors[0];
  if (factors.every((factor) => close(factor, first))) {
    candidates.push(close(first, 1) ? { type: "none" } : { type: "linear", factor: first });
  } else {
    const factor = Math.max(...factors);
    const originalMaxPositionEmbeddings = where.originalContext ?? defaultOriginalContext;
    candidates.push({ type: "llama3", factor, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings });
    const fitted = fitLlama3(factors, rope, factor, originalMaxPositionEmbeddings);
    if (fitted !== undefined) candidates.push(fitted);
  }

  for (const scaling of candidates) {
    if (reproduces(scaling, factors, rope)) return scaling;
  }
  throw new InvalidConfigError(
    "the per-chunk RoPE divisors follow neither linear nor llama3 scaling, which are the ones this loader supports",
    { file: where.file, field },
  );
}

function close(a: number, b: number): boolean {
  return Math.abs(a - b) <= factorTolerance * Math.max(Math.abs(a), Math.abs(b));
}

function reproduces(scaling: RopeScaling, factors: Float32Array, rope: Pick<RopeConfig, "theta" | "rotaryDim">): boolean {
  const base = ropeInverseFrequencies({ theta: rope.theta, rotaryDim: rope.rotaryDim, scaling: { type: "none" }, sourceLayout: "half" });
  const scaled = ropeInverseFrequencies({ theta: rope.theta, rotaryDim: rope.rotaryDim, scaling, sourceLayout: "half" });
  for (let j = 0; j < factors.length; j++) {
    if (!close(base[j] / scaled[j], factors[j])) return false;
  }
  return true;
}

/**
 * In the interpolated band, 1 / divisor = (1 - s) / factor + s with s = (original / wavelength - low) /
 * (high - low), which is linear in original / wavelength. A least-squares line through those chunks
 * gives low and high. Returns undefined when fewer than two chunks are interpolated.
 */
function fitLlama3(
  factors: Float32Array,
  rope: Pick<RopeConfig, "theta" | "rotaryDim">,
  factor: number,
  original: number,
): RopeScaling | undefined {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let j = 0; j < factors.length; j++) {
    if (close(factors[j], 1) || close(factors[j], factor)) continue;
    const frequency = Math.pow(rope.theta, (-2 * j) / rope.rotaryDim);
    xs.push((original * frequency) / (2 * Math.PI));
    ys.push((1 / factors[j] - 1 / factor) / (1 - 1 / factor));
  }
  if (xs.length < 2) return undefined;

  const meanX = xs.reduce((sum, x) => sum + x, 0) / xs.length;
  const meanY = ys.reduce((sum, y) => sum + y, 0) / ys.length;
  let covariance = 0;
  let variance = 0;
  for (let i = 0; i < xs.length; i++) {
    covariance += (xs[i] - meanX) * (ys[i] - meanY);
    variance += (xs[i] - meanX) ** 2;
  }
  const slope = covariance / variance;
  const intercept = meanY - slope * meanX;
  if (!(slope > 0)) return undefined;

  const lowFreqFactor = -intercept / slope;
  const highFreqFactor = lowFreqFactor + 1 / slope;
  return { type: "llama3", factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: original };
}
