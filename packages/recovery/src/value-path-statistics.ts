// Sufficient statistics of the value-path fit of one layer, summed over calibration windows: with the
// attended latents A [T, H·d_c] and the base block outputs Y [T, hidden], the loss ‖Y − A B(w_uv) woᵀ‖²
// depends on the data only through AᵀA, AᵀY and ‖Y‖², so the fits never revisit the tokens.
import { createMatrix, transpose, type MatmulProvider, type Matrix } from "@elitekv/core";

export interface ValuePathStatistics {
  /** AᵀA [numHeads · latentDim, numHeads · latentDim]. */
  latentGram: Matrix;
  /** AᵀY [numHeads · latentDim, hidden]. */
  latentTarget: Matrix;
  /** ‖Y‖²_F. */
  targetEnergy: number;
  tokens: number;
}

export function createValuePathStatistics(attendedWidth: number, hidden: number): ValuePathStatistics {
  return {
    latentGram: createMatrix(attendedWidth, attendedWidth),
    latentTarget: createMatrix(attendedWidth, hidden),
    targetEnergy: 0,
    tokens: 0,
  };
}

/** Adds one window's attended latents `attended` [T, H·d_c] and targets `target` [T, hidden]. */
export async function accumulateValuePathStatistics(
  statistics: ValuePathStatistics,
  attended: Matrix,
  target: Matrix,
  matmul: MatmulProvider,
): Promise<void> {
  const attendedT = transpose(attended);
  addInPlace(statistics.latentGram, await matmul.multiply(attendedT, attended));
  addInPlace(statistics.latentTarget, await matmul.multiply(attendedT, target));
  for (let i = 0; i < target.data.length; i++) statistics.targetEnergy += target.data[i] * target.data[i];
  statistics.tokens += attended.rows;
}

function addInPlace(sum: Matrix, term: Matrix): void {
  for (let i = 0; i < sum.data.length; i++) sum.data[i] += term.data[i];
}
