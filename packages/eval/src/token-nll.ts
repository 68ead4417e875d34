// Negative log-likelihood of target tokens under rows of logits, in float64 and natural-log units (nats).
import { InvalidArgumentError, logSumExp, type Logits } from "@elitekv/core";

/**
 * Returns -log softmax(row)[target] for one row of logits, in nats. The log-softmax is computed in
 * float64 through `logSumExp`, so float32 logits lose no precision here.
 */
export function tokenNll(logits: Logits, row: number, target: number): number {
  if (!Number.isSafeInteger(row) || row < 0 || row >= logits.rows) {
    throw new InvalidArgumentError(`row ${row} is outside the logits, which have ${logits.rows} rows`, {
      field: "row",
    });
  }
  if (!Number.isSafeInteger(target) || target < 0 || target >= logits.vocabSize) {
    throw new InvalidArgumentError(
      `target token id ${target} is outside the vocabulary of ${logits.vocabSize} logits per row`,
      { field: "target" },
    );
  }

  const offset = row * logits.vocabSize;
  return logSumExp(logits.data, offset, logits.vocabSize) - logits.data[offset + target];
}

/**
 * Returns the NLL of each next-token prediction inside `ids`: entry i scores ids[i + 1] under logits
 * row i. `logits` must have one row per id, as a prefill with logits "all" returns, so the result has
 * ids.length - 1 entries.
 */
export function nextTokenNlls(logits: Logits, ids: readonly number[]): Float64Array {
  if (logits.rows !== ids.length) {
    throw new InvalidArgumentError(
      `logits have ${logits.rows} rows but ${ids.length} ids were given; prefill with logits "all" ` +
        "so that every id has a row",
      { field: "logits.rows" },
    );
  }

  const nlls = new Float64Array(Math.max(0, ids.length - 1));
  for (let i = 0; i < nlls.length; i++) nlls[i] = tokenNll(logits, i, ids[i + 1]);
  return nlls;
}
