// node-llama-cpp as a benchmark peer, installed on demand into a folder outside the repository, with
// only the CPU prebuilt binary: `npm install --no-save --omit=optional` of node-llama-cpp plus its
// platform package, with NODE_LLAMA_CPP_SKIP_DOWNLOAD=true so that nothing downloads from GitHub or
// compiles. The workspace never depends on it, because its optional packages include CUDA builds.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

import { BackendFailureError } from "@elitekv/core";
import { resolveCacheDir } from "@elitekv/models";

/** The pinned node-llama-cpp version. Its CPU prebuilt package has the same version. */
export const llamaCppPeerVersion = "3.22.1";

export interface LlamaCppPeer {
  folder: string;
  version: string;
  /** The prebuilt binary package, such as "@node-llama-cpp/linux-x64". */
  binaryPackage: string;
  /** Absolute path of node-llama-cpp's ESM entry point. */
  entry: string;
  /** True when this call ran npm install. */
  installedNow: boolean;
}

export interface EnsureLlamaCppPeerOptions {
  /** Defaults to <cache dir>/peers/llama-cpp, the cache dir from resolveCacheDir ($ELITEKV_CACHE_DIR or ~/.cache/elitekv). */
  folder?: string;
  version?: string;
  /** Runs npm install when the peer is missing. Defaults to true. */
  install?: boolean;
  /** Limit of the npm install, in milliseconds. Defaults to 10 minutes. */
  installTimeoutMs?: number;
}

const defaultInstallTimeoutMs = 10 * 60 * 1000;

/** Returns the default install folder of the peer. */
export function defaultLlamaCppPeerFolder(): string {
  return join(resolveCacheDir(), "peers", "llama-cpp");
}

/**
 * Returns the CPU-only prebuilt package of node-llama-cpp for this platform. Throws BackendFailureError
 * on a platform without one in this list (Linux x64 and arm64).
 */
export function llamaCppBinaryPackage(platform: string = process.platform, arch: string = process.arch): string {
  if (platform === "linux" && (arch === "x64" || arch === "arm64")) return `@node-llama-cpp/linux-${arch}`;
  throw new BackendFailureError(
    `no CPU-only node-llama-cpp prebuilt is configured for ${platform}-${arch}; the llama.cpp peer runs on Linux x64 and arm64`,
  );
}

/**
 * Returns the installed peer, installing it first when it is missing and `install` is not false.
 * Throws BackendFailureError with npm's output when the install fails, or when the peer is missing
 * and installing is off.
 */
export function ensureLlamaCppPeer(options: EnsureLlamaCppPeerOptions = {}): LlamaCppPeer {
  const folder = options.folder ?? defaultLlamaCppPeerFolder();
  const version = options.version ?? llamaCppPeerVersion;
  const binaryPackage = llamaCppBinaryPackage();

  let installedNow = false;
  if (!isInstalled(folder, version, binaryPackage)) {
    if (options.install === false) {
      throw new BackendFailureError(
        `node-llama-cpp ${version} is not installed in ${folder} and installing is off; unset ELITEKV_BENCH_PEER_INSTALL or set it to 1`,
      );
    }
    install(folder, version, binaryPackage, options.installTimeoutMs ?? defaultInstallTimeoutMs);
    installedNow = true;
    if (!isInstalled(folder, version, binaryPackage)) {
      throw new BackendFailureError(`npm install finished but node-llama-cpp ${version} and ${binaryPackage} are not both in ${folder}/node_modules`);
    }
  }

  const entry = createRequire(join(folder, "package.json")).resolve("node-llama-cpp");
  return { folder, version, binaryPackage, entry, installedNow };
}

function isInstalled(folder: string, version: string, binaryPackage: string): boolean {
  return installedVersion(folder, "node-llama-cpp") === version && installedVersion(folder, binaryPackage) === version;
}

function installedVersion(folder: string, name: string): string | undefined {
  const manifest = join(folder, "node_modules", ...name.split("/"), "package.json");
  if (!existsSync(manifest)) return undefined;
  try {
    return (JSON.parse(readFileSync(manifest, "utf8")) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

function install(folder: string, version: string, binaryPackage: string, timeoutMs: number): void {
  mkdirSync(folder, { recursive: true });

  // A package.json of its own keeps npm from walking up to a parent project, and --no-save leaves it unchanged.
  const manifest = join(folder, "package.json");
  if (!existsSync(manifest)) {
    const temporary = `${manifest}.tmp-${process.pid}`;
    writeFileSync(temporary, `${JSON.stringify({ name: "elitekv-llama-cpp-peer", private: true }, null, 2)}\n`);
    renameSync(temporary, manifest);
  }

  const args = ["install", "--no-save", "--omit=optional", "--no-audit", "--no-fund", `node-llama-cpp@${version}`, `${binaryPackage}@${version}`];
  const run = spawnSync("npm", args, {
    cwd: folder,
    env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: "true" },
    encoding: "utf8",
    timeout: timeoutMs,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (run.error !== undefined) {
    throw new BackendFailureError(`could not run npm ${args.join(" ")} in ${folder}: ${run.error.message}`, { cause: run.error });
  }
  if (run.status !== 0) {
    const output = `${run.stdout ?? ""}${run.stderr ?? ""}`.trim().slice(-2000);
    throw new BackendFailureError(`npm ${args.join(" ")} in ${folder} failed with status ${run.status}: ${output}`);
  }
}
