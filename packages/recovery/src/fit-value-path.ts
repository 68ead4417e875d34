// The value-path fit of one layer: wo by exact least squares, then rounds that refit w_uv for that wo
// and wo for the new w_uv. A round is kept only when it lowers the calibration loss, so the result is
// never worse than the first wo fit.
import type { MatmulProvider, Matrix, ModelConfig } from "@elitekv/core";

import { fitOutputProjection, fitValueUpProjection, valuePathLoss } from "./value-path-fit.js";
import type { ValuePathStatistics } from "./value-path-statistics.js";

export interface ValuePathFitOptions {
  /** Relative ridge of every least-squares step. */
  ridge: number;
  /** Alternating rounds (w_uv, then wo) after the first wo fit; 0 refits wo only. */
  rounds: number;
  matmul: MatmulProvider;
}

export interface ValuePathFit {
  /** wo [hidden, numHeads · headDim]. */
  output: Matrix;
  /** w_uv [numKvHeads · headDim, latentDim]. */
  valueUp: Matrix;
  /** Relative squared error ‖Y − Ŷ‖² / ‖Y‖² with the weights before the fit. */
  lossBefore: number;
  lossAfter: number;
  /** Rounds whose result was kept. */
  roundsKept: number;
}

// The ridge-regularised problem needs no more than this; tighter tolerances cost iterations but do not
// move the loss in its fourth digit on tinystories-656k.
const valueUpSolve = { tolerance: 1e-8, maxIterations: 300 };

export async function fitValuePath(
  config: ModelConfig,
  statistics: ValuePathStatistics,
  initial: { valueUp: Matrix; output: Matrix },
  options: ValuePathFitOptions,
): Promise<ValuePathFit> {
  const { ridge, matmul } = options;
  const lossBefore = await valuePathLoss(config, statistics, initial.valueUp, initial.output, matmul);

  let valueUp = initial.valueUp;
  let output = (await fitOutputProjection(config, statistics, valueUp, ridge, matmul)).output;
  let loss = await valuePathLoss(config, statistics, valueUp, output, matmul);
  let roundsKept = 0;
  for (let round = 0; round < options.rounds; round++) {
    const nextValueUp = (await fitValueUpProjection(config, statistics, output, valueUp, { ridge, ...valueUpSolve }, matmul)).valueUp;
    const nextOutput = (await fitOutputProjection(config, statistics, nextValueUp, ridge, matmul)).output;
    const nextLoss = await valuePathLoss(config, statistics, nextValueUp, nextOutput, matmul);
    if (!(nextLoss < loss)) break;
    valueUp = nextValueUp;
    output = nextOutput;
    loss = nextLoss;
    roundsKept++;
  }

  // The closed-form fit can only lose against the start through rounding or ridge, so keep the start then.
  if (!(loss <= lossBefore)) {
    return { output: initial.output, valueUp: initial.valueUp, lossBefore, lossAfter: lossBefore, roundsKept: 0 };
  }
  return { output, valueUp, lossBefore, lossAfter: loss, roundsKept };
}
