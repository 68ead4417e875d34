// EliteKV checkpoint folders: the elitekv.json manifest, its validation and the loader.
export {
  buildEliteKvManifest,
  eliteConfigOfManifest,
  eliteKvFormatVersion,
  eliteKvManifestFileName,
  eliteKvRatio,
  eliteKvWeightsFileName,
  type EliteKvAllocation,
  type EliteKvAllocationCandidate,
  type EliteKvCalibration,
  type EliteKvManifest,
  type EliteKvManifestElite,
  type EliteKvManifestInput,
  type EliteKvManifestLayer,
  type EliteKvRankingProvenance,
  type EliteKvDistillation,
  type EliteKvRecovery,
  type EliteKvRecoveryLayer,
  type EliteKvStorageDtype,
  type EliteKvSvdMode,
} from "./elitekv-manifest.js";
export { parseEliteKvManifest } from "./parse-elitekv-manifest.js";
export { eliteKvWeightShapes } from "./elitekv-weight-shapes.js";
export { eliteKvTokenizerFiles, loadEliteKvModel, type EliteKvLoadOptions } from "./load-elitekv-model.js";
