// `elitekv fetch <name>`: downloads a pinned model into the cache folder and prints where it is.
import { fetchPinnedModel, pinnedModels, type PinnedModelName } from "@elitekv/models";
import { Argument, type Command } from "commander";

import type { CliIo } from "../cli-io.js";
import { addCacheDirOption, addOutputOptions, type OutputOptions } from "../options/common-options.js";
import { writeJson } from "../output/write-json.js";
import { runWithProgress } from "../progress/run-with-progress.js";

interface FetchOptions extends OutputOptions {
  cacheDir?: string;
}

export function registerFetchCommand(program: Command, io: CliIo): void {
  const names = Object.keys(pinnedModels);
  const command = program
    .command("fetch")
    .description("download a pinned model into the cache folder, verify its sha256 and print its path")
    .addArgument(new Argument("<name>", "pinned model name").choices(names))
    .addHelpText("after", `\nPinned models:\n${pinnedModelList()}`);
  addCacheDirOption(command);
  addOutputOptions(command);

  command.action(async (name: PinnedModelName, options: FetchOptions) => {
    const fetched = await runWithProgress(io.stderr, options.quiet, (onProgress) =>
      fetchPinnedModel(name, { cacheDir: options.cacheDir, onProgress }),
    );

    if (options.json === true) {
      writeJson(io.stdout, {
        name: fetched.name,
        path: fetched.path,
        sha256: fetched.sha256,
        fromCache: fetched.fromCache,
      });
      return;
    }
    io.stdout.write(`${fetched.path}\n`);
  });
}

function pinnedModelList(): string {
  return Object.values(pinnedModels)
    .map((pin) => `  ${pin.name}  ${pin.description}, ${pin.license}`)
    .join("\n");
}
