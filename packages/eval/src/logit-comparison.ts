// Distances between the next-token distributions of two models run on the same ids: KL divergence and
// top-1 agreement, in float64. The reference is the uncompressed model; the candidate is the model under
// test.
import { InvalidArgumentError, type Logits } from "@elitekv/core";

export interface LogitComparison {
  rows: number;
  /** Mean over rows of KL(reference || candidate), in nats. */
  meanKlDivergence: number;
  maxKlDivergence: number;
  /** Fraction of rows whose argmax ids agree, in [0, 1]. */
  top1Agreement: number;
}

/** Returns row `row` of `logits` as a view, without copying. */
export function logitsRow(logits: Logits, row: number): Float32Array {
  if (!Number.isSafeInteger(row) || row < 0 || row >= logits.rows) {
    throw new InvalidArgumentError(`row ${row} is outside the logits, which have ${logits.rows} rows`, {
      field: "row",
    });
  }
  return logits.data.subarray(row * logits.vocabSize, (row + 1) * logits.vocabSize);
}

/** Returns log softmax(row) in float64. */
export function logSoftmax(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);

  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  const logNormalizer = max + Math.log(sum);

  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = row[i] - logNormalizer;
  return out;
}

/**
 * Returns KL(P || Q) in nats, where P = softmax(reference) and Q = softmax(candidate). Tokens with
 * P = 0 after float64 underflow contribute nothing; a token with P > 0 and Q = 0 makes the result
 * Infinity.
 */
export function klDivergence(reference: ArrayLike<number>, candidate: ArrayLike<number>): number {
  checkSameLength(reference.length, candidate.length);

  const logP = logSoftmax(reference);
  const logQ = logSoftmax(candidate);
  let sum = 0;
  for (let i = 0; i < logP.length; i++) {
    const p = Math.exp(logP[i]);
    if (p === 0) continue;
    sum += p * (logP[i] - logQ[i]);
  }

  // Rounding can leave a tiny negative sum for identical rows; KL is never negative.
  return Math.max(0, sum);
}

/** Returns true when both rows have the same argmax id (ties go to the lowest id, as in greedy decoding). */
export function topTokenAgreement(reference: ArrayLike<number>, candidate: ArrayLike<number>): boolean {
  checkSameLength(reference.length, candidate.length);
  return argmaxOf(reference) === argmaxOf(candidate);
}

/** Compares two logits matrices row by row; both must come from the same ids. */
export function compareLogits(reference: Logits, candidate: Logits): LogitComparison {
  if (reference.rows !== candidate.rows || reference.vocabSize !== candidate.vocabSize) {
    throw new InvalidArgumentError(
      `logits shapes differ: reference is [${reference.rows}, ${reference.vocabSize}], candidate is ` +
        `[${candidate.rows}, ${candidate.vocabSize}]; run both models on the same ids`,
      { field: "logits" },
    );
  }
  if (reference.rows === 0) {
    throw new InvalidArgumentError("logits have no rows; compare at least one position", { field: "logits.rows" });
  }

  let klSum = 0;
  let klMax = 0;
  let agreeing = 0;
  for (let row = 0; row < reference.rows; row++) {
    const referenceRow = logitsRow(reference, row);
    const candidateRow = logitsRow(candidate, row);

    const kl = klDivergence(referenceRow, candidateRow);
    klSum += kl;
    klMax = Math.max(klMax, kl);
    if (topTokenAgreement(referenceRow, candidateRow)) agreeing++;
  }

  return {
    rows: reference.rows,
    meanKlDivergence: klSum / reference.rows,
    maxKlDivergence: klMax,
    top1Agreement: agreeing / reference.rows,
  };
}

// Same rule as core's argmax, which accepts only Float32Array: the first maximum wins.
function argmaxOf(row: ArrayLike<number>): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < row.length; i++) {
    if (row[i] > bestValue) {
      bestValue = row[i];
      best = i;
    }
  }
  return best;
}

function checkSameLength(referenceLength: number, candidateLength: number): void {
  if (referenceLength !== candidateLength) {
    throw new InvalidArgumentError(
      `logits rows differ in length: reference has ${referenceLength} entries, candidate has ` +
        `${candidateLength}; compare models with the same vocabulary`,
      { field: "logits" },
    );
  }
}
