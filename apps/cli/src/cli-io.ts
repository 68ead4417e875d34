// The streams a command writes to. Data goes to stdout, progress and errors go to stderr, so that
// `--json` output stays machine-readable when both streams share a terminal.

/** A writable stream as the CLI uses it. `isTTY` selects the progress renderer. */
export interface OutputStream {
  write(chunk: string): boolean;
  readonly isTTY?: boolean;
}

export interface CliIo {
  stdout: OutputStream;
  stderr: OutputStream;
}
