// Public API of @elitekv/backend-conformance: the vitest suite every backend passes against the
// reference CPU backend, and the checks it runs as plain async functions that throw
// ConformanceMismatchError, so that they can also run outside the suite.
export { defineBackendConformanceSuite } from "./define-backend-conformance-suite.js";
export {
  resolveConformanceOptions,
  type BackendConformanceOptions,
  type ResolvedConformanceOptions,
} from "./conformance-options.js";
export { defaultConformanceTolerances, resolveTolerances, type ConformanceTolerances } from "./conformance-tolerances.js";
export {
  conformancePromptIds,
  conformancePromptText,
  defaultConformanceSettings,
  resolveSettings,
  type ConformanceSettings,
} from "./conformance-settings.js";
export {
  conformanceModels,
  findRepositoryRoot,
  missingModelReason,
  resolveSharedDir,
  sharedModelsRequired,
  type ConformanceModel,
  type ConformanceModelName,
  type SharedDirSources,
} from "./shared-models.js";
export {
  buildConformanceVariant,
  conformanceVariants,
  highFrequencyRanking,
  type ConformanceVariant,
  type ConformanceVariantName,
} from "./conformance-variants.js";
export { computeReference, type ReferenceOptions, type ReferenceResults } from "./reference-results.js";
export { CaptureCollector, type AssembledCapture } from "./capture-collector.js";
export { maxAbsDifference, type ArrayDifference } from "./array-difference.js";
export {
  ConformanceMismatchError,
  type ConformanceCheckName,
  type ConformanceMismatchDetails,
} from "./conformance-mismatch-error.js";

export type { CheckOptions, ParityReport } from "./checks/check-options.js";
export { checkPrefillParity, type PrefillParityReport } from "./checks/check-prefill-parity.js";
export { checkDecodeParity, type DecodeParityReport } from "./checks/check-decode-parity.js";
export { checkCacheAccounting, type CacheAccountingReport } from "./checks/check-cache-accounting.js";
export { checkCaptureParity, type CaptureParityReport } from "./checks/check-capture-parity.js";
export { checkInvalidInput, type InvalidInputReport } from "./checks/check-invalid-input.js";
export { checkContinuation, type ContinuationOptions, type ContinuationReport } from "./checks/check-continuation.js";
export { checkLosslessConversion } from "./checks/check-lossless-conversion.js";
