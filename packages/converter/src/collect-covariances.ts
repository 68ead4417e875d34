// Per-layer Xᵀ X of the attention inputs over calibration ids, the input of the activation-aware SVD.
import {
  BackendFailureError,
  createMatrix,
  type InferenceSession,
  type MatmulProvider,
  type Matrix,
  type ProgressListener,
} from "@elitekv/core";
import { accumulateCovariance } from "./accumulate-covariance.js";

export interface CovarianceOptions {
  /** Ids per prefill. The session must hold this many positions. */
  window: number;
  /** Computes Xᵀ X as one product per layer and window. Without it, a float64 loop sums the upper triangle. */
  matmul?: MatmulProvider;
  onProgress: ProgressListener;
}

const task = "covariance";

/**
 * Returns one hidden × hidden Xᵀ X per layer, summed over `ids` cut into consecutive windows. Each
 * window is one prefill that captures the attention input of every layer. A final partial window is
 * captured too, because covariances need no next-token target.
 */
export async function collectCovariances(session: InferenceSession, ids: readonly number[], options: CovarianceOptions): Promise<Matrix[]> {
  const { numLayers, hiddenSize } = session.config;
  const covariances: Matrix[] = [];
  const windows = Math.ceil(ids.length / options.window);
  const started = Date.now();
  options.onProgress({ type: "start", task, total: windows, unit: "windows", message: `Xᵀ X of ${ids.length} tokens` });

  for (let w = 0; w < windows; w++) {
    const windowIds = ids.slice(w * options.window, (w + 1) * options.window);
    session.reset();
    const inputs: { layer: number; data: Float32Array; tokens: number }[] = [];
    await session.prefill(windowIds, {
      capture: {
        attentionInput: true,
        onCapture: (event) => {
          // The backend delivers every layer when `layers` is omitted, so a missing input is a backend bug.
          if (event.attentionInput === undefined) {
            throw new BackendFailureError(`the backend delivered no attention input for layer ${event.layer}`, { field: "attentionInput" });
          }
          inputs.push({ layer: event.layer, data: event.attentionInput, tokens: event.tokens });
        },
      },
    });
    for (const { layer, data, tokens } of inputs) {
      covariances[layer] =
        options.matmul === undefined
          ? accumulateCovariance(data, tokens, hiddenSize, covariances[layer])
          : await addProduct(options.matmul, data, tokens, hiddenSize, covariances[layer]);
    }
    options.onProgress({ type: "advance", task, current: w + 1, total: windows, unit: "windows" });
  }
  session.reset();

  for (let layer = 0; layer < numLayers; layer++) {
    if (covariances[layer] === undefined) {
      throw new BackendFailureError(`the backend captured no attention input for layer ${layer}`, { field: "attentionInput" });
    }
  }
  options.onProgress({ type: "end", task, seconds: (Date.now() - started) / 1000 });
  return covariances;
}

/** Adds Xᵀ X of x ([tokens, hidden]) to `into` (or to zeros) with one product on `matmul`. */
async function addProduct(matmul: MatmulProvider, x: Float32Array, tokens: number, hidden: number, into: Matrix | undefined): Promise<Matrix> {
  const rows = createMatrix(tokens, hidden, x);
  const columns = createMatrix(hidden, tokens);
  for (let t = 0; t < tokens; t++) {
    for (let i = 0; i < hidden; i++) columns.data[i * tokens + t] = rows.data[t * hidden + i];
  }
  const product = await matmul.multiply(columns, rows);
  if (into === undefined) return product;
  for (let i = 0; i < product.data.length; i++) into.data[i] += product.data[i];
  return into;
}
