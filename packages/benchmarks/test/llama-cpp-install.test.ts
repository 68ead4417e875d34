import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { BackendFailureError } from "@elitekv/core";
import { afterEach, describe, expect, it } from "vitest";

import { ensureLlamaCppPeer, llamaCppBinaryPackage, llamaCppPeerVersion } from "../src/index.js";

const folders: string[] = [];

function scratchFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), "elitekv-peer-test-"));
  folders.push(folder);
  return folder;
}

/** Writes a package with `version` under node_modules, as npm would leave it. */
function writePackage(folder: string, name: string, version: string): void {
  const directory = join(folder, "node_modules", ...name.split("/"));
  mkdirSync(directory, { recursive: true });
  writeFileSync(join(directory, "package.json"), JSON.stringify({ name, version, type: "module", exports: "./index.js" }));
  writeFileSync(join(directory, "index.js"), "export {};\n");
}

afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

describe("llamaCppBinaryPackage", () => {
  it("names the CPU prebuilt for Linux", () => {
    expect(llamaCppBinaryPackage("linux", "x64")).toBe("@node-llama-cpp/linux-x64");
    expect(llamaCppBinaryPackage("linux", "arm64")).toBe("@node-llama-cpp/linux-arm64");
  });

  it("rejects platforms without one", () => {
    expect(() => llamaCppBinaryPackage("win32", "x64")).toThrow(BackendFailureError);
    expect(() => llamaCppBinaryPackage("darwin", "arm64")).toThrow(/darwin-arm64/);
  });
});

describe.runIf(process.platform === "linux" && (process.arch === "x64" || process.arch === "arm64"))("ensureLlamaCppPeer", () => {
  it("finds an installed peer without running npm", () => {
    const folder = scratchFolder();
    writeFileSync(join(folder, "package.json"), "{}");
    writePackage(folder, "node-llama-cpp", llamaCppPeerVersion);
    writePackage(folder, llamaCppBinaryPackage(), llamaCppPeerVersion);

    const peer = ensureLlamaCppPeer({ folder, install: false });
    expect(peer.installedNow).toBe(false);
    expect(peer.version).toBe(llamaCppPeerVersion);
    expect(peer.entry).toBe(join(folder, "node_modules", "node-llama-cpp", "index.js"));
  });

  it("treats another version as missing", () => {
    const folder = scratchFolder();
    writePackage(folder, "node-llama-cpp", "3.0.0");
    writePackage(folder, llamaCppBinaryPackage(), llamaCppPeerVersion);
    expect(() => ensureLlamaCppPeer({ folder, install: false })).toThrow(/not installed/);
  });

  it("requires the prebuilt binary package", () => {
    const folder = scratchFolder();
    writePackage(folder, "node-llama-cpp", llamaCppPeerVersion);
    expect(() => ensureLlamaCppPeer({ folder, install: false })).toThrow(BackendFailureError);
  });
});
