// Public API of @elitekv/recovery: layer-wise quality recovery of converted EliteKV models against
// their base model.
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
export { checkBaseModel, readConvertedManifest } from "./converted-checkpoint.js";
export { layerwiseRecoveryRecord, writeRecoveredCheckpoint, type RecoveredCheckpointInput } from "./write-recovered-checkpoint.js";
export { adamRefit, type AdamRefitOptions } from "./adam-refit.js";
export {
  attentionParameterNames,
  type AttentionLossGradient,
  type AttentionWindow,
  type EliteAttentionParameters,
} from "./attention-gradient.js";
export { createJaxAttentionGradient } from "./jax-attention-gradient.js";
