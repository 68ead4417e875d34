// The error report on stderr when a command fails.
import { isElitekvError } from "@elitekv/core";
import { CommanderError } from "commander";

import type { OutputStream } from "./cli-io.js";

/**
 * Writes `error: <message>` for an ElitekvError (plus the message of its cause), nothing for a
 * CommanderError because commander already wrote its own message, and the stack for anything else,
 * which is a bug rather than bad input.
 */
export function reportError(stream: OutputStream, error: unknown): void {
  if (error instanceof CommanderError) return;

  if (isElitekvError(error)) {
    stream.write(`error: ${error.message}\n`);
    if (error.cause instanceof Error && !error.message.includes(error.cause.message)) {
      stream.write(`  cause: ${error.cause.message}\n`);
    }
    return;
  }

  const details = error instanceof Error ? (error.stack ?? error.message) : String(error);
  stream.write(`error: unexpected failure\n${details}\n`);
}
