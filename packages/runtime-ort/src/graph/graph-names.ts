// Names of the decoder graph's inputs and outputs, shared by the graph builders and the session that
// feeds them.

export const graphInputs = {
  /** int64 [tokens]: the ids of this run. */
  ids: "input_ids",
  /** float32 [tokens, headDim / 2]: cos(position · θ_j) of each token and chunk. */
  cos: "rope_cos",
  /** float32 [tokens, headDim / 2]: sin(position · θ_j). */
  sin: "rope_sin",
  /** float32 [tokens, tokens]: 0 where a new token may attend to another new token, −∞ elsewhere. */
  causalMask: "causal_mask",
  /** int64 [rows]: the rows of this run whose logits are returned. */
  logitRows: "logit_rows",
  /** Full cache: float32 [past, headDim], the rotated keys of one KV head. */
  pastKey: (layer: number, kvHead: number) => `past_key.${layer}.${kvHead}`,
  /** Full cache: float32 [past, headDim], the values of one KV head. */
  pastValue: (layer: number, kvHead: number) => `past_value.${layer}.${kvHead}`,
  /** EliteKV cache: float32 [past, 2r], the rotated elite keys of one KV head. */
  pastRopeKey: (layer: number, kvHead: number) => `past_rope_key.${layer}.${kvHead}`,
  /** EliteKV cache: float32 [past, latentDim], the shared latent. */
  pastLatent: (layer: number) => `past_latent.${layer}`,
} as const;

export const graphOutputs = {
  /** float32 [rows, vocabSize]. */
  logits: "logits",
  /** Full cache: float32 [tokens, headDim], the rotated keys of this run for one KV head. */
  presentKey: (layer: number, kvHead: number) => `present_key.${layer}.${kvHead}`,
  /** Full cache: float32 [tokens, headDim], the values of this run for one KV head. */
  presentValue: (layer: number, kvHead: number) => `present_value.${layer}.${kvHead}`,
  /** EliteKV cache: float32 [tokens, 2r], the rotated elite keys of this run for one KV head. */
  presentRopeKey: (layer: number, kvHead: number) => `present_rope_key.${layer}.${kvHead}`,
  /** EliteKV cache: float32 [tokens, latentDim]. */
  presentLatent: (layer: number) => `present_latent.${layer}`,
  /** Capture: float32 [tokens, numHeads, headDim], "half" layout, before rotation. */
  captureQuery: (layer: number) => `capture_query.${layer}`,
  /** Capture: float32 [tokens, numKvHeads, headDim], "half" layout, before rotation. */
  captureKey: (layer: number) => `capture_key.${layer}`,
  /** Capture: float32 [tokens, hiddenSize], the normalised input of the attention block. */
  captureInput: (layer: number) => `capture_input.${layer}`,
} as const;

/** Symbolic dimension names. */
export const graphDims = { tokens: "tokens", past: "past", rows: "rows" } as const;
