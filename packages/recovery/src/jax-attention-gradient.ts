// AttentionLossGradient on jax-js (@jax-js/jax 0.1.25, pinned), running on its WebAssembly device in
// Node: the squared error of one converted layer's attention block (jax-elite-attention.ts) against the
// base block output, and its gradient from jax-js automatic differentiation.
import { jit, numpy as np, valueAndGrad } from "@jax-js/jax";

import type { EliteLayerConfig, ModelConfig } from "@elitekv/core";

import {
  attentionParameterNames,
  type AttentionLossGradient,
  type AttentionWindow,
  type EliteAttentionParameters,
} from "./attention-gradient.js";
import { initWasm, type JaxArray } from "./jax-device.js";
import { attentionParameterShapes, jaxEliteAttention, layerConstants, type JaxAttentionParameters } from "./jax-elite-attention.js";

/**
 * Creates the jax-js implementation for windows of exactly `tokens` positions of one converted layer.
 * NOTE: it computes in float32, so losses differ from the float64 least-squares path in the sixth digit.
 */
export async function createJaxAttentionGradient(config: ModelConfig, layer: EliteLayerConfig, tokens: number): Promise<AttentionLossGradient> {
  await initWasm();
  const hiddenSize = config.hiddenSize;
  const host = layerConstants(config, layer, tokens);
  const shapes = attentionParameterShapes(config, layer);
  const constant = (data: Float32Array, shape: number[]) => np.array(data, { shape });

  // Returns ‖Y − Ŷ‖² for one window; consumes every argument once.
  const blockError = (parameters: JaxAttentionParameters, x: JaxArray, y: JaxArray): JaxArray => {
    const predicted = jaxEliteAttention(config, layer, host, tokens, parameters, x);
    return np.sum(np.square(np.subtract(y, predicted)));
  };

  const toJax = (parameters: EliteAttentionParameters): JaxAttentionParameters => {
    const entries = attentionParameterNames.map((name) => [name, constant(parameters[name], shapes[name])] as const);
    return Object.fromEntries(entries) as JaxAttentionParameters;
  };
  const windowArrays = (window: AttentionWindow) => ({
    x: constant(window.inputs, [tokens, hiddenSize]),
    y: constant(window.target, [tokens, hiddenSize]),
  });

  // Compiled once per layer. Without jit, every valueAndGrad call left about 0.3 MB on the JS heap
  // (jax-js 0.1.25, tinystories-656k, 128 tokens), and each call was slower.
  const errorAndGradient = jit(valueAndGrad(blockError, { argnums: 0 }));
  const error = jit(blockError);

  return {
    async lossAndGradient(parameters, window) {
      const { x, y } = windowArrays(window);
      const [value, gradient] = errorAndGradient(toJax(parameters), x, y);
      const loss = (await value.data())[0];
      const result = {} as EliteAttentionParameters;
      for (const name of attentionParameterNames) result[name] = Float32Array.from(await (gradient as JaxAttentionParameters)[name].data());
      return { loss, gradient: result };
    },

    async loss(parameters, window) {
      const { x, y } = windowArrays(window);
      const value = error(toJax(parameters), x, y);
      return (await value.data())[0];
    },
  };
}
