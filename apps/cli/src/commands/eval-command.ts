// `elitekv eval`: the group of evaluation subcommands.
import type { Command } from "commander";

import type { CliIo } from "../cli-io.js";
import { registerEvalCompareCommand } from "./eval-compare-command.js";
import { registerEvalPerplexityCommand } from "./eval-perplexity-command.js";

export function registerEvalCommand(program: Command, io: CliIo): void {
  const command = program.command("eval").description("evaluate a model on text");
  registerEvalPerplexityCommand(command, io);
  registerEvalCompareCommand(command, io);
}
