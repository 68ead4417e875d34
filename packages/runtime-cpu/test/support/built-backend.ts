// Child-process script: runs a tiny model on the tsup build whose folder is argv[2], on 2 threads,
// and prints the logits as JSON. The build starts its worker from compute-worker.js, not the sources.
import { pathToFileURL } from "node:url";

import type { Backend } from "@elitekv/core";

import { tinyModel } from "./random-model.js";

const buildFolder = process.argv[2];
const built = (await import(pathToFileURL(`${buildFolder}/index.js`).href)) as {
  createCpuBackend: (options: { threads: number }) => Backend;
};
const backend = built.createCpuBackend({ threads: 2 });
const session = await backend.createSession(tinyModel({ hiddenSize: 256, intermediateSize: 512, seed: 77 }));
const logits = await session.prefill([1, 2, 3, 4, 5], { logits: "all" });
await backend.dispose();
process.stdout.write(`${JSON.stringify(Array.from(logits.data))}\n`);
