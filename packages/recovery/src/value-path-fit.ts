// Closed-form least squares for the value path of one converted layer. With the attention probabilities
// fixed, the block output A · B(w_uv) · woᵀ is linear in wo for a fixed w_uv and linear in w_uv for a
// fixed wo, so each is solved exactly (ridge-regularised normal equations, float64) and the two
// alternate. Everything works on the statistics AᵀA, AᵀY and ‖Y‖², never on the tokens.
import {
  createMatrix,
  dampedCholesky,
  InvalidArgumentError,
  solveLowerTriangular,
  solveUpperTriangularTransposed,
  transpose,
  type MatmulProvider,
  type Matrix,
  type ModelConfig,
} from "@elitekv/core";

import { valueUpBlockMatrix } from "./elite-attention.js";
import type { ValuePathStatistics } from "./value-path-statistics.js";

/** Returns ‖Y − A B(w_uv) woᵀ‖²_F / ‖Y‖²_F from the statistics, clamped at 0 against rounding. */
export async function valuePathLoss(
  config: ModelConfig,
  statistics: ValuePathStatistics,
  valueUp: Matrix,
  output: Matrix,
  matmul: MatmulProvider,
): Promise<number> {
  if (statistics.targetEnergy === 0) return 0;
  const blocks = valueUpBlockMatrix(config, valueUp);
  const blocksT = transpose(blocks);
  const cross = await matmul.multiply(blocksT, statistics.latentTarget);
  const gram = await matmul.multiply(await matmul.multiply(blocksT, statistics.latentGram), blocks);
  const outputGram = await matmul.multiply(output, gram);

  // ‖Y‖² − 2 tr(Yᵀ A B woᵀ) + tr(wo Bᵀ AᵀA B woᵀ), with tr(Yᵀ A B woᵀ) = Σ (BᵀAᵀY)[k, j] wo[j, k].
  let linear = 0;
  let quadratic = 0;
  const width = output.cols;
  for (let j = 0; j < output.rows; j++) {
    for (let k = 0; k < width; k++) {
      const weight = output.data[j * width + k];
      linear += cross.data[k * cross.cols + j] * weight;
      quadratic += outputGram.data[j * width + k] * weight;
    }
  }
  return Math.max(0, statistics.targetEnergy - 2 * linear + quadratic) / statistics.targetEnergy;
}

export interface OutputProjectionFit {
  /** wo [hidden, numHeads · headDim]. */
  output: Matrix;
  /** Absolute ridge added to the diagonal of the Gram matrix. */
  damping: number;
}

/**
 * Solves min over wo of ‖Y − O woᵀ‖² + λ‖wo‖² with O = A B(w_uv): woᵀ = (OᵀO + λI)⁻¹ OᵀY by Cholesky.
 * λ is `ridge` times the mean diagonal of OᵀO, raised tenfold while the factorisation fails.
 */
export async function fitOutputProjection(
  config: ModelConfig,
  statistics: ValuePathStatistics,
  valueUp: Matrix,
  ridge: number,
  matmul: MatmulProvider,
): Promise<OutputProjectionFit> {
  checkRidge(ridge);
  const blocks = valueUpBlockMatrix(config, valueUp);
  const blocksT = transpose(blocks);
  const gram = await matmul.multiply(await matmul.multiply(blocksT, statistics.latentGram), blocks);
  const cross = await matmul.multiply(blocksT, statistics.latentTarget);

  const { lower, damping } = dampedCholesky(gram, { relativeDamping: ridge });
  const solution = solveUpperTriangularTransposed(lower, solveLowerTriangular(lower, cross));
  return { output: transpose(solution), damping };
}

export interface ValueUpProjectionOptions {
  /** Relative ridge: λ is this times the mean diagonal of the normal operator. */
  ridge: number;
  /** Conjugate gradient iterations at most. Defaults to 1000. */
  maxIterations?: number;
  /** Stop when ‖residual‖ / ‖right-hand side‖ falls below this. Defaults to 1e-10. */
  tolerance?: number;
}

export interface ValueUpProjectionFit {
  /** w_uv [numKvHeads · headDim, latentDim]. */
  valueUp: Matrix;
  damping: number;
  iterations: number;
  /** ‖residual‖ / ‖right-hand side‖ of the normal equations at the end. */
  relativeResidual: number;
}

/**
 * Solves min over w_uv of ‖Y − A B(w_uv) woᵀ‖² + λ‖w_uv‖² for a fixed wo by preconditioned conjugate
 * gradients on the normal equations, started from `initial`. The operator maps W to
 * Σ_{h∈g} Σ_h' K_hh' W_g(h') C_h'h per KV head g, with K = woᵀ wo and C = AᵀA split into head blocks.
 * It is applied as the diagonal blocks of AᵀA · B(W) · K, so that the products run through `matmul`.
 * The preconditioner is the operator's diagonal.
 */
export async function fitValueUpProjection(
  config: ModelConfig,
  statistics: ValuePathStatistics,
  output: Matrix,
  initial: Matrix,
  options: ValueUpProjectionOptions,
  matmul: MatmulProvider,
): Promise<ValueUpProjectionFit> {
  checkRidge(options.ridge);
  const maxIterations = options.maxIterations ?? 1000;
  const tolerance = options.tolerance ?? 1e-10;
  const outputGram = await matmul.multiply(transpose(output), output);

  const rightHandSide = sumGroupBlocks(config, await matmul.multiply(statistics.latentTarget, output), initial.cols);
  const diagonal = operatorDiagonal(config, statistics.latentGram, outputGram, initial.cols);
  let meanDiagonal = 0;
  for (let i = 0; i < diagonal.length; i++) meanDiagonal += diagonal[i];
  meanDiagonal /= diagonal.length;
  const damping = options.ridge * (meanDiagonal > 0 ? meanDiagonal : 1);

  const apply = async (weights: Matrix): Promise<Float64Array> => {
    const spread = await matmul.multiply(statistics.latentGram, valueUpBlockMatrix(config, weights));
    const result = sumGroupBlocks(config, await matmul.multiply(spread, outputGram), weights.cols).data;
    for (let i = 0; i < result.length; i++) result[i] += damping * weights.data[i];
    return result;
  };

  const solution = createMatrix(initial.rows, initial.cols, initial.data);
  const residual = Float64Array.from(rightHandSide.data);
  const start = await apply(solution);
  for (let i = 0; i < residual.length; i++) residual[i] -= start[i];
  const rightNorm = norm(rightHandSide.data);
  if (rightNorm === 0) {
    return { valueUp: createMatrix(initial.rows, initial.cols), damping, iterations: 0, relativeResidual: 0 };
  }

  const preconditioned = residual.map((value, i) => value / (diagonal[i] + damping));
  const direction = createMatrix(initial.rows, initial.cols, preconditioned);
  let residualDot = dot(residual, preconditioned);
  let relativeResidual = norm(residual) / rightNorm;
  let iterations = 0;
  while (iterations < maxIterations && relativeResidual > tolerance) {
    const image = await apply(direction);
    const step = residualDot / dot(direction.data, image);
    for (let i = 0; i < residual.length; i++) {
      solution.data[i] += step * direction.data[i];
      residual[i] -= step * image[i];
    }
    iterations++;
    relativeResidual = norm(residual) / rightNorm;

    for (let i = 0; i < residual.length; i++) preconditioned[i] = residual[i] / (diagonal[i] + damping);
    const nextDot = dot(residual, preconditioned);
    const momentum = nextDot / residualDot;
    residualDot = nextDot;
    for (let i = 0; i < residual.length; i++) direction.data[i] = preconditioned[i] + momentum * direction.data[i];
  }
  return { valueUp: solution, damping, iterations, relativeResidual };
}

/**
 * Returns [numKvHeads · headDim, latentDim] whose row g·h + i, column c is Σ_{h∈g} Z[h·d_c + c, h·headDim + i]:
 * the transposed diagonal blocks of Z [numHeads · latentDim, numHeads · headDim], summed per KV head.
 */
function sumGroupBlocks(config: ModelConfig, z: Matrix, latentDim: number): Matrix {
  const { numHeads, numKvHeads, headDim } = config;
  const groupSize = numHeads / numKvHeads;
  const result = createMatrix(numKvHeads * headDim, latentDim);
  for (let head = 0; head < numHeads; head++) {
    const kvHead = Math.floor(head / groupSize);
    for (let c = 0; c < latentDim; c++) {
      const row = (head * latentDim + c) * z.cols + head * headDim;
      for (let i = 0; i < headDim; i++) result.data[(kvHead * headDim + i) * latentDim + c] += z.data[row + i];
    }
  }
  return result;
}

/** Returns the diagonal of the normal operator: entry (g, i, c) is Σ_{h,h'∈g} K[h·h+i, h'·h+i] C[h'·d+c, h·d+c]. */
function operatorDiagonal(config: ModelConfig, latentGram: Matrix, outputGram: Matrix, latentDim: number): Float64Array {
  const { numHeads, numKvHeads, headDim } = config;
  const groupSize = numHeads / numKvHeads;
  const diagonal = new Float64Array(numKvHeads * headDim * latentDim);
  for (let kvHead = 0; kvHead < numKvHeads; kvHead++) {
    for (let a = 0; a < groupSize; a++) {
      for (let b = 0; b < groupSize; b++) {
        const head = kvHead * groupSize + a;
        const other = kvHead * groupSize + b;
        for (let i = 0; i < headDim; i++) {
          const k = outputGram.data[(head * headDim + i) * outputGram.cols + other * headDim + i];
          for (let c = 0; c < latentDim; c++) {
            const gram = latentGram.data[(other * latentDim + c) * latentGram.cols + head * latentDim + c];
            diagonal[(kvHead * headDim + i) * latentDim + c] += k * gram;
          }
        }
      }
    }
  }
  return diagonal;
}

function checkRidge(ridge: number): void {
  if (!(ridge > 0) || !Number.isFinite(ridge)) {
    throw new InvalidArgumentError(`ridge must be a positive number, got ${ridge}`, { field: "ridge" });
  }
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}
