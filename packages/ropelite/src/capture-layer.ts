// Capture of one layer's pre-rotation queries and keys over calibration windows. One layer per call
// keeps memory at windows x length x (H + G) x h floats, and the caller loops over layers.
import { BackendFailureError, InvalidArgumentError, type CaptureEvent, type InferenceSession } from "@elitekv/core";

export interface LayerCapture {
  /** One array per window, [length, numHeads, headDim], "half" RoPE layout, before rotation. */
  query: Float32Array[];
  /** One array per window, [length, numKvHeads, headDim], "half" RoPE layout, before rotation. */
  key: Float32Array[];
}

/**
 * Runs each window from position 0 (session.reset() then one prefill) and returns the queries and keys
 * of `layer`. The session cache ends holding the last window.
 */
export async function captureLayer(
  session: InferenceSession,
  windows: readonly (readonly number[])[],
  layer: number,
): Promise<LayerCapture> {
  const { numLayers, numHeads, numKvHeads, headDim } = session.config;
  if (!Number.isSafeInteger(layer) || layer < 0 || layer >= numLayers) {
    throw new InvalidArgumentError(`layer ${String(layer)} is not an integer in [0, ${numLayers})`, { field: "layer" });
  }

  const result: LayerCapture = { query: [], key: [] };
  for (const window of windows) {
    const tokens = window.length;
    const query = new Float32Array(tokens * numHeads * headDim);
    const key = new Float32Array(tokens * numKvHeads * headDim);
    let capturedTokens = 0;

    // A backend may deliver one prefill as several runs of positions, so each run lands at its offset.
    const onCapture = (event: CaptureEvent) => {
      if (event.layer !== layer) return;
      if (event.startPosition < 0 || event.startPosition + event.tokens > tokens) {
        throw new BackendFailureError(
          `capture of layer ${layer} covers positions ${event.startPosition} .. ${event.startPosition + event.tokens - 1}, ` +
            `outside the window of ${tokens} tokens`,
          { field: "capture" },
        );
      }
      query.set(event.query.subarray(0, event.tokens * numHeads * headDim), event.startPosition * numHeads * headDim);
      key.set(event.key.subarray(0, event.tokens * numKvHeads * headDim), event.startPosition * numKvHeads * headDim);
      capturedTokens += event.tokens;
    };

    session.reset();
    await session.prefill(window, { logits: "last", capture: { layers: [layer], onCapture } });

    if (capturedTokens !== tokens) {
      throw new BackendFailureError(
        `the backend captured ${capturedTokens} of ${tokens} tokens of layer ${layer}; it must deliver every position`,
        { field: "capture" },
      );
    }
    result.query.push(query);
    result.key.push(key);
  }
  return result;
}
