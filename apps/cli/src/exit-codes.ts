// Process exit codes and the mapping from a thrown error to one of them.
import { isElitekvError } from "@elitekv/core";
import { CommanderError } from "commander";

export const ExitCode = {
  success: 0,
  /** A bad file, a failed job or an unexpected exception. */
  failure: 1,
  /** A bad flag or argument: the command line itself must change. */
  usage: 2,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Maps a CommanderError to an exit code. Help and version requests succeed. Every other commander
 * error (unknown option, missing required option, invalid option value, missing subcommand) is a
 * usage error.
 */
export function exitCodeForCommanderError(error: CommanderError): ExitCode {
  if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return ExitCode.success;
  if (error.code === "commander.help" && error.exitCode === 0) return ExitCode.success;
  return ExitCode.usage;
}

/** Maps an error thrown by a command action to an exit code. */
export function exitCodeForError(error: unknown): ExitCode {
  if (error instanceof CommanderError) return exitCodeForCommanderError(error);
  if (isElitekvError(error) && error.isUsageError) return ExitCode.usage;
  return ExitCode.failure;
}
