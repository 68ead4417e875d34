// Public API of @elitekv/eval: perplexity over token streams and per-row comparison of two models' logits.
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
