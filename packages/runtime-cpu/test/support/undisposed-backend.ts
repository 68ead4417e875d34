// Child-process script: runs one decode on a CPU backend with a worker thread and returns without
// disposing anything. The test that spawns it expects the process to exit on its own.
import { createCpuBackend } from "../../src/index.js";
import { tinyModel } from "./random-model.js";

const backend = createCpuBackend({ threads: 2 });
const session = await backend.createSession(tinyModel({ hiddenSize: 256, intermediateSize: 512 }));
const logits = await session.decode(3);
process.stdout.write(`logits ${logits.data.length}\n`);
