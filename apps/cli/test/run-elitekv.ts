// Spawns the CLI the way a user runs it from the repository root, without a build, and collects its
// output. The child is killed when it runs past the timeout, so a hang fails the test instead of
// stalling the run.
import { spawn } from "node:child_process";

import { repositoryRoot } from "@elitekv/vitest-config/shared";

export interface CliRun {
  /** Exit code, or null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runElitekv(args: readonly string[], timeoutMs = 60_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--conditions=elitekv-source", "--import", "tsx", "apps/cli/src/main.ts", ...args],
      { cwd: repositoryRoot, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));

    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`elitekv ${args.join(" ")} ran longer than ${timeoutMs} ms\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Parses every non-empty line of `text` as JSON, and throws naming the first line that is not JSON. */
export function parseJsonLines(text: string): unknown[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line, index) => {
      try {
        return JSON.parse(line) as unknown;
      } catch {
        throw new Error(`line ${index + 1} of the output is not JSON: ${line}`);
      }
    });
}

/** Collects what the CLI writes. `isTTY` is false, as for a pipe. */
class MemoryStream {
  readonly isTTY = false;
  text = "";

  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

/**
 * Runs the CLI inside the test process through `runCli`, the function that main.ts calls before it
 * exits with the returned code. Much faster than a spawn, for cases that do not depend on process exit.
 */
export async function runElitekvInProcess(args: readonly string[]): Promise<CliRun> {
  const { runCli } = await import("../src/run-cli.js");
  const stdout = new MemoryStream();
  const stderr = new MemoryStream();
  const code = await runCli(args, { stdout, stderr });
  return { code, signal: null, stdout: stdout.text, stderr: stderr.text };
}
