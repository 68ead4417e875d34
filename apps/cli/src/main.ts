// Entry point of the `elitekv` executable.
import { ExitCode } from "./exit-codes.js";
import { runCli } from "./run-cli.js";

// A reader that closes the pipe early (`elitekv generate ... | head`) wants no more output, so that is
// a normal end rather than a failure.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(ExitCode.success);
  process.stderr.write(`error: cannot write to stdout: ${error.message}\n`);
  process.exit(ExitCode.failure);
});

const exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });

// Exit explicitly once both streams have drained. Commands dispose their backends, but a library
// handle left open must not keep the process alive after the result is out.
await Promise.all([drain(process.stdout), drain(process.stderr)]);
process.exit(exitCode);

function drain(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write("", () => resolve()));
}
