// Runs a TypeScript entry point of this package in its own Node process (with the elitekv-source
// condition and tsx, as `pnpm bench` runs scripts) and parses the one JSON value it prints on stdout.
// A separate process gives each measured configuration its own peak RSS and keeps a crash contained.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The repository root, from which `--import tsx` resolves. */
export const repositoryRoot = fileURLToPath(new URL("../../..", import.meta.url));

export interface JsonChildOptions {
  /** Kills the child (SIGKILL) after this many milliseconds. Defaults to no limit. */
  timeoutMs?: number;
  /** Copies the child's stderr (its progress lines) to this process's stderr. Defaults to true. */
  forwardStderr?: boolean;
  /** Environment of the child, or this process's environment when omitted. */
  env?: NodeJS.ProcessEnv;
}

export type JsonChildOutcome<T> =
  | { ok: true; value: T; seconds: number }
  | {
      ok: false;
      /** Description of the failure: the child's own error message when it printed one, else the exit status or signal. */
      error: string;
      exitCode: number | null;
      signal: NodeJS.Signals | null;
      /** Last lines of the child's stderr. */
      stderrTail: string;
      seconds: number;
    };

/** Characters of stderr kept for a failure report. */
const stderrTailLength = 4000;

/**
 * Runs `node --conditions=elitekv-source --import tsx <script> <JSON of argument>` in the repository
 * root. The child prints one JSON value. On failure it may print { "error": { "message": ... } } and
 * exit non-zero. Resolves with the parsed value or with a description of the failure, and never rejects.
 * NOTE: the entry points are TypeScript sources run through tsx, so the built dist/ works only beside
 * the package's src/ folder and the repository's tsx.
 */
export function runJsonChild<T>(script: string, argument: unknown, options: JsonChildOptions = {}): Promise<JsonChildOutcome<T>> {
  const started = performance.now();
  const forwardStderr = options.forwardStderr ?? true;

  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--conditions=elitekv-source", "--import", "tsx", script, JSON.stringify(argument)], {
      cwd: repositoryRoot,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });

    let stdout = "";
    let stderrTail = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (text: string) => {
      stdout += text;
    });
    child.stderr.on("data", (text: string) => {
      if (forwardStderr) process.stderr.write(text);
      stderrTail = (stderrTail + text).slice(-stderrTailLength);
    });

    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
          }, options.timeoutMs);

    const finish = (outcome: JsonChildOutcome<T>) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve(outcome);
    };

    child.on("error", (error) => {
      finish({ ok: false, error: `could not start ${script}: ${error.message}`, exitCode: null, signal: null, stderrTail, seconds: elapsed(started) });
    });

    child.on("close", (exitCode, signal) => {
      const seconds = elapsed(started);
      const parsed = parseJson(stdout);
      if (exitCode === 0 && parsed.ok) {
        finish({ ok: true, value: parsed.value as T, seconds });
        return;
      }

      let error: string;
      if (timedOut) error = `timed out after ${options.timeoutMs} ms and was killed`;
      else if (parsed.ok && childErrorMessage(parsed.value) !== undefined) error = childErrorMessage(parsed.value)!;
      else if (exitCode === 0) error = `printed no valid JSON on stdout (${stdout.trim().slice(0, 200) || "empty"})`;
      else error = signal === null ? `exited with status ${exitCode}` : `was killed by ${signal}`;
      finish({ ok: false, error, exitCode, signal, stderrTail, seconds });
    });
  });
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

function childErrorMessage(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || !("error" in value)) return undefined;
  const error = (value as { error: unknown }).error;
  if (typeof error === "string") return error;
  if (typeof error === "object" && error !== null && typeof (error as { message?: unknown }).message === "string") {
    return (error as { message: string }).message;
  }
  return undefined;
}

function elapsed(started: number): number {
  return (performance.now() - started) / 1000;
}
