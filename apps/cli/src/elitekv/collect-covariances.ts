// Per-layer Xᵀ X of the attention inputs over calibration text, the input of the activation-aware SVD.
import { BackendFailureError, type InferenceSession, type Matrix, type ProgressListener } from "@elitekv/core";
import { accumulateCovariance } from "@elitekv/converter";

export interface CovarianceOptions {
  /** Ids per prefill. The session must hold this many positions. */
  window: number;
  onProgress: ProgressListener;
}

const task = "covariance";

/**
 * Returns one hidden × hidden Xᵀ X per layer, summed over `ids` cut into consecutive windows. Every
 * window is one prefill with capture of all layers, so every id adds its attention input to each layer once. A final partial
 * window is still captured, because covariances need no next-token target.
 */
export async function collectCovariances(session: InferenceSession, ids: readonly number[], options: CovarianceOptions): Promise<Matrix[]> {
  const { numLayers, hiddenSize } = session.config;
  const covariances: Matrix[] = [];
  const windows = Math.ceil(ids.length / options.window);
  const started = Date.now();
  options.onProgress({ type: "start", task, total: windows, unit: "window", message: `Xᵀ X of ${ids.length} tokens` });

  for (let w = 0; w < windows; w++) {
    const windowIds = ids.slice(w * options.window, (w + 1) * options.window);
    session.reset();
    await session.prefill(windowIds, {
      capture: {
        attentionInput: true,
        onCapture: (event) => {
          // The backend delivers every layer when `layers` is omitted, so a missing input is a backend bug.
          if (event.attentionInput === undefined) {
            throw new BackendFailureError(`the backend delivered no attention input for layer ${event.layer}`, { field: "attentionInput" });
          }
          covariances[event.layer] = accumulateCovariance(event.attentionInput, event.tokens, hiddenSize, covariances[event.layer]);
        },
      },
    });
    options.onProgress({ type: "advance", task, current: w + 1, total: windows, unit: "window" });
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
