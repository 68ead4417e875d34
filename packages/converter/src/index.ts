// Public API of @elitekv/converter: cache targets, elite chunk selection, the q/k split, J-LRD and the
// EliteKV checkpoint writer. The checkpoint loader lives in @elitekv/models (loadEliteKvModel).
export { maxLatentDim, resolveTarget, type ConversionTarget, type ResolvedTarget } from "./resolve-target.js";
export { selectEliteChunks, type ChunkRanking } from "./elite-chunk-selection.js";
export { jointKeyValueMatrix, ropeKeyRows, type JointKeyValueMatrix } from "./split-key-projection.js";
export {
  decomposeJointLowRank,
  exactSvdMaxDim,
  type JointLowRankFactors,
  type JointLowRankOptions,
  type SvdMode,
} from "./joint-low-rank-decomposition.js";
export { allocateLatentDims, jointEnergySpectrum, latentAllocations, type LatentAllocation } from "./latent-allocation.js";
export { accumulateCovariance } from "./accumulate-covariance.js";
export { collectCovariances, type CovarianceOptions } from "./collect-covariances.js";
export { defaultRuleMultiples, ropeChunkCandidates } from "./rope-chunk-candidates.js";
export {
  convertModel,
  type ConvertedModel,
  type ConvertOptions,
  type LayerReconstructionError,
} from "./convert-model.js";
export { copyTokenizerFiles } from "./copy-tokenizer-files.js";
export {
  writeEliteKvCheckpoint,
  type CheckpointProvenance,
  type WriteCheckpointInput,
  type WrittenCheckpoint,
} from "./write-elitekv-checkpoint.js";
