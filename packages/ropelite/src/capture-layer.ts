// Capture of pre-rotation queries and keys over calibration windows, for one layer or a group of
// layers per pass. A group costs windows x length x (H + G) x h floats per layer, so callers size the
// groups to a memory budget and run the windows once per group.
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
  const captures = await captureLayers(session, windows, [layer]);
  return captures[0];
}

/**
 * Runs each window once and returns the captures of `layers`, in the order given. Throws
 * InvalidArgumentError for a layer outside the model or listed twice, and BackendFailureError when the
 * backend skips or misplaces positions.
 */
export async function captureLayers(
  session: InferenceSession,
  windows: readonly (readonly number[])[],
  layers: readonly number[],
): Promise<LayerCapture[]> {
  const { numLayers, numHeads, numKvHeads, headDim } = session.config;
  const slots = new Map<number, number>();
  for (const layer of layers) {
    if (!Number.isSafeInteger(layer) || layer < 0 || layer >= numLayers) {
      throw new InvalidArgumentError(`layer ${String(layer)} is not an integer in [0, ${numLayers})`, { field: "layer" });
    }
    if (slots.has(layer)) {
      throw new InvalidArgumentError(`layer ${layer} is listed twice; list each layer once`, { field: "layer" });
    }
    slots.set(layer, slots.size);
  }

  const results: LayerCapture[] = layers.map(() => ({ query: [], key: [] }));
  for (const window of windows) {
    const tokens = window.length;
    const queries = layers.map(() => new Float32Array(tokens * numHeads * headDim));
    const keys = layers.map(() => new Float32Array(tokens * numKvHeads * headDim));
    const capturedTokens = layers.map(() => 0);

    // A backend may deliver one prefill as several runs of positions, so each run lands at its offset.
    const onCapture = (event: CaptureEvent) => {
      const slot = slots.get(event.layer);
      if (slot === undefined) return;
      if (event.startPosition < 0 || event.startPosition + event.tokens > tokens) {
        throw new BackendFailureError(
          `capture of layer ${event.layer} covers positions ${event.startPosition} .. ${event.startPosition + event.tokens - 1}, ` +
            `outside the window of ${tokens} tokens`,
          { field: "capture" },
        );
      }
      queries[slot].set(event.query.subarray(0, event.tokens * numHeads * headDim), event.startPosition * numHeads * headDim);
      keys[slot].set(event.key.subarray(0, event.tokens * numKvHeads * headDim), event.startPosition * numKvHeads * headDim);
      capturedTokens[slot] += event.tokens;
    };

    session.reset();
    await session.prefill(window, { logits: "last", capture: { layers: [...layers], onCapture } });

    for (let slot = 0; slot < layers.length; slot++) {
      if (capturedTokens[slot] !== tokens) {
        throw new BackendFailureError(
          `the backend captured ${capturedTokens[slot]} of ${tokens} tokens of layer ${layers[slot]}; it must deliver every position`,
          { field: "capture" },
        );
      }
      results[slot].query.push(queries[slot]);
      results[slot].key.push(keys[slot]);
    }
  }
  return results;
}

/**
 * Splits layers 0 .. numLayers - 1 into consecutive groups whose captures fit `budgetBytes`, at least
 * one layer per group. `bytesPerLayer` is the capture size of one layer over all windows.
 */
export function captureLayerGroups(numLayers: number, bytesPerLayer: number, budgetBytes: number): number[][] {
  const perGroup = Math.max(1, Math.floor(budgetBytes / Math.max(1, bytesPerLayer)));
  const groups: number[][] = [];
  for (let first = 0; first < numLayers; first += perGroup) {
    const group: number[] = [];
    for (let layer = first; layer < Math.min(numLayers, first + perGroup); layer++) group.push(layer);
    groups.push(group);
  }
  return groups;
}
