// The frame of a benchmark child process: reads the JSON spec from argv[2], runs the measurement, and
// prints its JSON result on stdout, or { "error": { "message", "code" } } with exit status 1. Progress
// goes to stderr as text lines, so stdout carries only the result.
import { isElitekvError, type ProgressListener } from "@elitekv/core";

/** Runs `measure` on the spec in process.argv[2] and prints the result. For child entry points only. */
export async function runChildMain<Spec, Result>(measure: (spec: Spec) => Promise<Result>): Promise<void> {
  const argument = process.argv[2];
  let result: Result;
  try {
    if (argument === undefined) throw new Error("missing argument: pass the measurement spec as one JSON string");
    result = await measure(JSON.parse(argument) as Spec);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const code = isElitekvError(error) ? error.code : undefined;
    exitAfterWrite({ error: { message, code } }, 1);
    return;
  }
  exitAfterWrite(result, 0);
}

// Exiting explicitly ends the process even when a backend left a native thread or handle open.
function exitAfterWrite(value: unknown, status: number): void {
  process.stdout.write(`${JSON.stringify(value)}\n`, () => process.exit(status));
}

/** Returns a listener that writes each progress event as one line to stderr, prefixed with `label`. */
export function stderrProgress(label: string): ProgressListener {
  return (event) => {
    let line: string;
    if (event.type === "start") line = `start ${event.task}${event.message === undefined ? "" : `: ${event.message}`}`;
    else if (event.type === "advance") line = `${event.task} ${event.current}/${event.total ?? "?"} ${event.unit ?? ""}`.trimEnd();
    else if (event.type === "end") line = `done ${event.task}${event.seconds === undefined ? "" : ` in ${event.seconds.toFixed(1)} s`}`;
    else line = `${event.task}: ${event.message}`;
    process.stderr.write(`${label}: ${line}\n`);
  };
}
