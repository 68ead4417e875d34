// Public API of @elitekv/eval: perplexity over token streams, per-row comparison of two models' logits,
// and the comparison of a model with its base model over windows of a stream.
export { computePerplexity, type PerplexityOptions, type PerplexityResult } from "./perplexity.js";
export { nextTokenNlls, tokenNll } from "./token-nll.js";
export {
  compareLogits,
  klDivergence,
  logitsRow,
  logSoftmax,
  topTokenAgreement,
  type LogitComparison,
} from "./logit-comparison.js";
export {
  compareModels,
  compareModelSet,
  type CompareModelsOptions,
  type ModelComparison,
  type ModelPerplexity,
} from "./compare-models.js";
