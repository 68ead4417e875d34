// The interface between end-to-end distillation and automatic differentiation. It computes the soft
// cross-entropy of the converted model's next-token distributions against the base model's on one
// window, and its gradient with respect to every layer's attention weights. The other weights stay
// fixed. The implementation behind it (jax-distillation-gradient.ts) can change without touching callers.
import type { EliteAttentionParameters } from "./attention-gradient.js";

/** One calibration window of the distillation. */
export interface DistillationWindow {
  /** Token embeddings of the window's ids, [tokens, hidden]. */
  embeddings: Float32Array;
  /** The base model's next-token probabilities at every position, [tokens, vocab]. */
  targets: Float32Array;
}

export interface DistillationLossGradient {
  /**
   * Returns the mean over positions of −Σ_v p_base(v) log p_model(v) under `parameters` (one entry per
   * layer) and its gradient with respect to every layer's attention weights.
   */
  lossAndGradient(
    parameters: readonly EliteAttentionParameters[],
    window: DistillationWindow,
  ): Promise<{ loss: number; gradient: EliteAttentionParameters[] }>;
  /** Returns the same cross-entropy without the gradient. */
  loss(parameters: readonly EliteAttentionParameters[], window: DistillationWindow): Promise<number>;
  /** Frees the fixed weights held on the device. */
  dispose(): void;
}
