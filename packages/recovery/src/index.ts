// Public API of @elitekv/recovery: quality recovery of converted EliteKV models against their base
// model, layer by layer or end to end by distillation.
export { calibrationWindows } from "./calibration-windows.js";
export { baseAttentionOutput } from "./base-attention.js";
export { eliteAttendedLatents, eliteAttentionOutput, valueUpBlockMatrix } from "./elite-attention.js";
export {
  baseAttentionWeights,
  eliteAttentionWeights,
  matrixToTensor,
  tensorToMatrix,
  type BaseAttentionWeights,
  type EliteAttentionWeights,
} from "./layer-weights.js";
export {
  accumulateValuePathStatistics,
  createValuePathStatistics,
  type ValuePathStatistics,
} from "./value-path-statistics.js";
export {
  fitOutputProjection,
  fitValueUpProjection,
  valuePathLoss,
  type OutputProjectionFit,
  type ValueUpProjectionFit,
  type ValueUpProjectionOptions,
} from "./value-path-fit.js";
export { fitValuePath, type ValuePathFit, type ValuePathFitOptions } from "./fit-value-path.js";
export {
  defaultLearningRate,
  defaultRidge,
  defaultRounds,
  recoverLayerwise,
  type LayerRecoveryRecord,
  type LayerwiseRecoveryOptions,
  type LayerwiseRecoveryResult,
} from "./layerwise-recovery.js";
export { layerFileName, PartialRecoveryFolder, recoveryStateFileName, type FinishedLayer } from "./partial-recovery-folder.js";
export { recoveryFingerprint } from "./recovery-fingerprint.js";
export { checkBaseModel, checkRecoveryModels, readConvertedManifest } from "./converted-checkpoint.js";
export {
  distillationRecoveryRecord,
  layerwiseRecoveryRecord,
  writeRecoveredCheckpoint,
  type RecoveredCheckpointInput,
} from "./write-recovered-checkpoint.js";
export {
  defaultDistillationLearningRate,
  attentionWeightNames,
  recoverByDistillation,
  type DistillationRecoveryOptions,
  type DistillationRecoveryResult,
} from "./distillation-recovery.js";
export type { DistillationLossGradient, DistillationWindow } from "./distillation-gradient.js";
export { createJaxDistillationGradient } from "./jax-distillation-gradient.js";
export { AdamOptimizer } from "./adam-optimizer.js";
export { adamRefit, type AdamRefitOptions } from "./adam-refit.js";
export {
  attentionParameterNames,
  type AttentionLossGradient,
  type AttentionWindow,
  type EliteAttentionParameters,
} from "./attention-gradient.js";
export { createJaxAttentionGradient } from "./jax-attention-gradient.js";
