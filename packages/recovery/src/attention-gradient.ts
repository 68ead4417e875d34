// The interface through which gradient steps see automatic differentiation: the squared error of one
// converted layer's attention block on one window, and its gradient with respect to every attention
// weight. The implementation behind it (jax-attention-gradient.ts) can change without touching callers.

/** Float32 attention weights of one converted layer, each in its stored [out, in] layout. */
export interface EliteAttentionParameters {
  /** wq [numHeads · headDim, hidden]. */
  query: Float32Array;
  /** wk_rope [numKvHeads · 2r, hidden]. */
  ropeKey: Float32Array;
  /** w_dkv [latentDim, hidden]. */
  latentDown: Float32Array;
  /** w_uk [numKvHeads · (headDim − 2r), latentDim]. */
  keyUp: Float32Array;
  /** w_uv [numKvHeads · headDim, latentDim]. */
  valueUp: Float32Array;
  /** wo [hidden, numHeads · headDim]. */
  output: Float32Array;
}

export const attentionParameterNames = ["query", "ropeKey", "latentDown", "keyUp", "valueUp", "output"] as const;

/** One calibration window: attention inputs X and the base block outputs Y, both [tokens, hidden]. */
export interface AttentionWindow {
  inputs: Float32Array;
  target: Float32Array;
}

export interface AttentionLossGradient {
  /** Returns ‖Y − Ŷ‖²_F of `window` under `parameters` and the gradient of that sum. */
  lossAndGradient(parameters: EliteAttentionParameters, window: AttentionWindow): Promise<{ loss: number; gradient: EliteAttentionParameters }>;
  /** Returns ‖Y − Ŷ‖²_F of `window` under `parameters`. */
  loss(parameters: EliteAttentionParameters, window: AttentionWindow): Promise<number>;
}
