// The commander program: global settings and the command list.
import { Command } from "commander";

import packageJson from "../package.json" with { type: "json" };
import type { CliIo } from "./cli-io.js";
import { registerAnalyzeCommand } from "./commands/analyze-command.js";
import { registerConvertCommand } from "./commands/convert-command.js";
import { registerDemoCommand } from "./commands/demo-command.js";
import { registerEvalCommand } from "./commands/eval-command.js";
import { registerFetchCommand } from "./commands/fetch-command.js";
import { registerGenerateCommand } from "./commands/generate-command.js";
import { registerInfoCommand } from "./commands/info-command.js";
import { registerRecoverCommand } from "./commands/recover-command.js";
import { registerSweepCommand } from "./commands/sweep-command.js";

/**
 * Builds the program. Commander errors are thrown as CommanderError instead of exiting the process,
 * so that the caller picks the exit code. Subcommands inherit these settings because they are set
 * before any command is added.
 */
export function createProgram(io: CliIo): Command {
  const program = new Command("elitekv")
    .description("Load, inspect, evaluate and run LLaMA-family models; EliteKV compresses their KV cache.")
    .version(packageJson.version, "-V, --version", "print the version")
    .helpOption("-h, --help", "print help for the command")
    .helpCommand("help [command]", "print help for a command")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
    })
    .showSuggestionAfterError(true);

  registerFetchCommand(program, io);
  registerInfoCommand(program, io);
  registerEvalCommand(program, io);
  registerGenerateCommand(program, io);
  registerAnalyzeCommand(program, io);
  registerConvertCommand(program, io);
  registerDemoCommand(program, io);
  registerRecoverCommand(program, io);
  registerSweepCommand(program, io);
  return program;
}
