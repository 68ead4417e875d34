// Public API of @elitekv/ropelite: calibration capture, the RoPElite greedy chunk ranking, baseline
// rankings and the ranking.json artifact.
export {
  sampleCalibrationWindows,
  sampleCausalPairs,
  type CalibrationWindowOptions,
  type CausalPairs,
} from "./calibration-windows.js";
export { captureLayer, captureLayerGroups, captureLayers, type LayerCapture } from "./capture-layer.js";
export { computeChunkTerms, type ChunkTermInputs, type ChunkTerms } from "./chunk-terms.js";
export { candidateObjectives, greedyRanking, ropeliteObjective, type HeadRanking } from "./greedy-ranking.js";
export {
  contributionRanking,
  highFrequencyRanking,
  lowFrequencyRanking,
  uniformChunkSet,
  uniformRanking,
} from "./baseline-rankings.js";
export { baselineHeadRanking } from "./baseline-head-ranking.js";
export {
  rankingSchemaVersion,
  rankingStrategies,
  readRanking,
  validateRanking,
  writeRanking,
  type LayerRanking,
  type RankingCalibration,
  type RankingModelInfo,
  type RankingStrategy,
  type RopeliteRanking,
} from "./ranking-file.js";
export { fingerprintModelFiles } from "./model-fingerprint.js";
export { analyzeModel, type AnalyzeOptions } from "./analyze-model.js";
