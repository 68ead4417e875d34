// Runs one command line and returns its exit code, without exiting the process, so that tests and
// other hosts can call it.
import type { CliIo } from "./cli-io.js";
import { ExitCode, exitCodeForError } from "./exit-codes.js";
import { createProgram } from "./program.js";
import { reportError } from "./report-error.js";

/** `argv` contains the user arguments only, without the node executable and script path. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  const program = createProgram(io);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return ExitCode.success;
  } catch (error) {
    reportError(io.stderr, error);
    return exitCodeForError(error);
  }
}
