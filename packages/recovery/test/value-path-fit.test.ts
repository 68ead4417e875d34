// The value-path least squares against direct normal-equation solves built from the raw tokens, on a
// small random grouped-query case (4 query heads over 2 KV heads).
import { createMatrix, createRandom, referenceMatmul, type Matrix, type ModelConfig } from "@elitekv/core";
import { maxAbsDifference } from "@elitekv/vitest-config/matchers";
import { describe, expect, it } from "vitest";

import {
  accumulateValuePathStatistics,
  createValuePathStatistics,
  fitOutputProjection,
  fitValuePath,
  fitValueUpProjection,
  valuePathLoss,
} from "../src/index.js";

const numHeads = 4;
const numKvHeads = 2;
const headDim = 3;
const hidden = 6;
const latentDim = 5;
const tokens = 60;
const groupSize = numHeads / numKvHeads;

const config = { numHeads, numKvHeads, headDim, hiddenSize: hidden } as ModelConfig;

function randomMatrix(rows: number, cols: number, seed: number): Matrix {
  const random = createRandom(seed);
  return createMatrix(rows, cols, Array.from({ length: rows * cols }, () => 2 * random.next() - 1));
}

/** O[t, h·headDim + i] = Σ_c w_uv[g(h)·headDim + i, c] A[t, h·latentDim + c], written out per entry. */
function valueOutputs(attended: Matrix, valueUp: Matrix): Matrix {
  const outputs = createMatrix(tokens, numHeads * headDim);
  for (let t = 0; t < tokens; t++) {
    for (let head = 0; head < numHeads; head++) {
      const kvHead = Math.floor(head / groupSize);
      for (let i = 0; i < headDim; i++) {
        let sum = 0;
        for (let c = 0; c < latentDim; c++) sum += valueUp.data[(kvHead * headDim + i) * latentDim + c] * attended.data[t * attended.cols + head * latentDim + c];
        outputs.data[t * outputs.cols + head * headDim + i] = sum;
      }
    }
  }
  return outputs;
}

/** Solves (ΦᵀΦ + λI) w = ΦᵀY for every column of Y by Gaussian elimination with partial pivoting. */
function solveNormalEquations(design: Matrix, targets: Matrix, damping: number): Matrix {
  const n = design.cols;
  const system = createMatrix(n, n);
  const right = createMatrix(n, targets.cols);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let sum = i === j ? damping : 0;
      for (let r = 0; r < design.rows; r++) sum += design.data[r * n + i] * design.data[r * n + j];
      system.data[i * n + j] = sum;
    }
    for (let j = 0; j < targets.cols; j++) {
      let sum = 0;
      for (let r = 0; r < design.rows; r++) sum += design.data[r * n + i] * targets.data[r * targets.cols + j];
      right.data[i * targets.cols + j] = sum;
    }
  }

  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let row = col + 1; row < n; row++) if (Math.abs(system.data[row * n + col]) > Math.abs(system.data[pivot * n + col])) pivot = row;
    for (let k = 0; k < n; k++) [system.data[col * n + k], system.data[pivot * n + k]] = [system.data[pivot * n + k], system.data[col * n + k]];
    for (let k = 0; k < right.cols; k++) {
      [right.data[col * right.cols + k], right.data[pivot * right.cols + k]] = [right.data[pivot * right.cols + k], right.data[col * right.cols + k]];
    }
    for (let row = 0; row < n; row++) {
      if (row === col) continue;
      const factor = system.data[row * n + col] / system.data[col * n + col];
      for (let k = 0; k < n; k++) system.data[row * n + k] -= factor * system.data[col * n + k];
      for (let k = 0; k < right.cols; k++) right.data[row * right.cols + k] -= factor * right.data[col * right.cols + k];
    }
  }
  for (let row = 0; row < n; row++) {
    for (let k = 0; k < right.cols; k++) right.data[row * right.cols + k] /= system.data[row * n + row];
  }
  return right;
}

function relativeError(attended: Matrix, target: Matrix, valueUp: Matrix, output: Matrix): number {
  const outputs = valueOutputs(attended, valueUp);
  let error = 0;
  let energy = 0;
  for (let t = 0; t < tokens; t++) {
    for (let j = 0; j < hidden; j++) {
      let predicted = 0;
      for (let k = 0; k < numHeads * headDim; k++) predicted += outputs.data[t * outputs.cols + k] * output.data[j * output.cols + k];
      const y = target.data[t * hidden + j];
      error += (y - predicted) ** 2;
      energy += y * y;
    }
  }
  return error / energy;
}

async function fixture() {
  const attended = randomMatrix(tokens, numHeads * latentDim, 1);
  const target = randomMatrix(tokens, hidden, 2);
  const valueUp = randomMatrix(numKvHeads * headDim, latentDim, 3);
  const output = randomMatrix(hidden, numHeads * headDim, 4);
  const statistics = createValuePathStatistics(numHeads * latentDim, hidden);
  // Two windows, so that the statistics must sum across windows.
  const half = tokens / 2;
  const slice = (matrix: Matrix, start: number, end: number) =>
    createMatrix(end - start, matrix.cols, matrix.data.subarray(start * matrix.cols, end * matrix.cols));
  await accumulateValuePathStatistics(statistics, slice(attended, 0, half), slice(target, 0, half), referenceMatmul);
  await accumulateValuePathStatistics(statistics, slice(attended, half, tokens), slice(target, half, tokens), referenceMatmul);
  return { attended, target, valueUp, output, statistics };
}

describe("value path least squares", () => {
  it("loss matches the direct error", async () => {
    const { attended, target, valueUp, output, statistics } = await fixture();

    const loss = await valuePathLoss(config, statistics, valueUp, output, referenceMatmul);

    expect(statistics.tokens).toBe(tokens);
    expect(Math.abs(loss - relativeError(attended, target, valueUp, output))).toBeLessThan(1e-12);
  });

  it("wo fit equals the normal-equation solve", async () => {
    const { attended, target, valueUp, statistics } = await fixture();

    const fit = await fitOutputProjection(config, statistics, valueUp, 1e-3, referenceMatmul);
    const direct = solveNormalEquations(valueOutputs(attended, valueUp), target, fit.damping);

    expect(fit.damping).toBeGreaterThan(0);
    expect(fit.output.rows).toBe(hidden);
    expect(fit.output.cols).toBe(numHeads * headDim);
    // direct contains woᵀ.
    for (let j = 0; j < hidden; j++) {
      for (let k = 0; k < numHeads * headDim; k++) {
        expect(Math.abs(fit.output.data[j * fit.output.cols + k] - direct.data[k * hidden + j])).toBeLessThan(1e-8);
      }
    }
  });

  it("w_uv fit equals the normal-equation solve", async () => {
    const { attended, target, valueUp, output, statistics } = await fixture();

    const fit = await fitValueUpProjection(config, statistics, output, valueUp, { ridge: 1e-3, tolerance: 1e-14 }, referenceMatmul);

    // Φ[(t, j), (g, i, c)] = Σ_{h∈g} wo[j, h·headDim + i] A[t, h·latentDim + c]: the derivative of Ŷ[t, j].
    const unknowns = numKvHeads * headDim * latentDim;
    const design = createMatrix(tokens * hidden, unknowns);
    for (let t = 0; t < tokens; t++) {
      for (let j = 0; j < hidden; j++) {
        for (let head = 0; head < numHeads; head++) {
          const kvHead = Math.floor(head / groupSize);
          for (let i = 0; i < headDim; i++) {
            for (let c = 0; c < latentDim; c++) {
              design.data[(t * hidden + j) * unknowns + (kvHead * headDim + i) * latentDim + c] +=
                output.data[j * output.cols + head * headDim + i] * attended.data[t * attended.cols + head * latentDim + c];
            }
          }
        }
      }
    }
    const direct = solveNormalEquations(design, createMatrix(tokens * hidden, 1, target.data), fit.damping);

    expect(fit.relativeResidual).toBeLessThan(1e-13);
    expect(fit.iterations).toBeGreaterThan(1);
    expect(maxAbsDifference(fit.valueUp.data, direct.data)).toBeLessThan(1e-8);
  });

  it("alternation lowers the loss", async () => {
    const { attended, target, valueUp, output, statistics } = await fixture();

    const woOnly = await fitValuePath(config, statistics, { valueUp, output }, { ridge: 1e-9, rounds: 0, matmul: referenceMatmul });
    const joint = await fitValuePath(config, statistics, { valueUp, output }, { ridge: 1e-9, rounds: 3, matmul: referenceMatmul });

    expect(woOnly.lossBefore).toBeCloseTo(relativeError(attended, target, valueUp, output), 12);
    expect(woOnly.lossAfter).toBeLessThan(woOnly.lossBefore);
    expect(woOnly.roundsKept).toBe(0);
    expect(joint.roundsKept).toBeGreaterThan(0);
    expect(joint.lossAfter).toBeLessThan(woOnly.lossAfter);
    expect(Math.abs(joint.lossAfter - relativeError(attended, target, joint.valueUp, joint.output))).toBeLessThan(1e-10);
  });
});
