// Throughput of the CPU backend, printed as one JSON object: matmul GFLOP/s on 1 thread and on all
// threads, then prefill and decode tokens/s on stories260K and on SmolLM2-135M: the GGUF file named by
// ELITEKV_SMOLLM2_GGUF, else the one `elitekv fetch smollm2` cached, else none. Prefill returns every logits row, as perplexity needs.
// Run: node --conditions=elitekv-source --import tsx packages/runtime-cpu/bench/forward-cpu.bench.ts
import { existsSync } from "node:fs";

import { loadModel, resolveModelPath } from "@elitekv/models";
import { sharedPath } from "@elitekv/vitest-config/shared";

import { createCpuBackend, defaultThreadCount } from "../src/index.js";
import { parallelMatmul } from "../src/parallel-ops.js";
import { ThreadPool } from "../src/thread-pool.js";

/** Seconds each timed measurement runs at least, so that short runs repeat. */
const minimumSeconds = 2;

function fillRandom(data: Float32Array, seed: number): void {
  let state = seed;
  for (let i = 0; i < data.length; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    data[i] = state / 2147483648 - 0.5;
  }
}

/** Returns GFLOP/s of out[size, size] = x[size, size] · w[size, size]ᵀ on `threads` threads. */
async function measureMatmul(size: number, threads: number): Promise<number> {
  const pool = await ThreadPool.start(threads - 1);
  try {
    const input = pool.registerBuffer(new SharedArrayBuffer(size * size * 4));
    const weight = pool.registerBuffer(new SharedArrayBuffer(size * size * 4));
    const out = pool.registerBuffer(new SharedArrayBuffer(size * size * 4));
    fillRandom(input.data, 1);
    fillRandom(weight.data, 2);
    const run = () =>
      parallelMatmul(pool, threads, { handle: out, offset: 0 }, { handle: input, offset: 0 }, { handle: weight, offset: 0 }, size, size, size);

    await run();
    let repetitions = 0;
    const start = performance.now();
    do {
      await run();
      repetitions++;
    } while (performance.now() - start < minimumSeconds * 1000);
    const seconds = (performance.now() - start) / 1000;
    return (2 * size ** 3 * repetitions) / seconds / 1e9;
  } finally {
    await pool.dispose();
  }
}

interface ModelThroughput {
  model: string;
  threads: number;
  prefillTokens: number;
  prefillTokensPerSecond: number;
  decodeTokens: number;
  decodeTokensPerSecond: number;
}

/** Times one prefill of `prefillTokens` tokens (all logits rows), then `decodeTokens` decodes after it. */
async function measureModel(path: string, threads: number, prefillTokens: number, decodeTokens: number): Promise<ModelThroughput> {
  const model = await loadModel(path);
  const backend = createCpuBackend({ threads });
  try {
    const session = await backend.createSession(model, { maxContext: prefillTokens + decodeTokens });
    const ids = Array.from({ length: prefillTokens }, (_, i) => (i * 7919 + 13) % model.config.vocabSize);
    await session.prefill(ids.slice(0, 8));
    session.reset();

    const prefillStart = performance.now();
    await session.prefill(ids, { logits: "all" });
    const prefillSeconds = (performance.now() - prefillStart) / 1000;

    const decodeStart = performance.now();
    for (let step = 0; step < decodeTokens; step++) await session.decode((step * 31 + 5) % model.config.vocabSize);
    const decodeSeconds = (performance.now() - decodeStart) / 1000;

    await session.dispose();
    return {
      model: path,
      threads,
      prefillTokens,
      prefillTokensPerSecond: prefillTokens / prefillSeconds,
      decodeTokens,
      decodeTokensPerSecond: decodeTokens / decodeSeconds,
    };
  } finally {
    await backend.dispose();
  }
}

const allThreads = defaultThreadCount();
const threadCounts = allThreads > 1 ? [1, allThreads] : [1];
const results: Record<string, unknown> = { threadsAvailable: allThreads, matmul: [], models: [] };

for (const threads of threadCounts) {
  (results.matmul as unknown[]).push({ size: 1024, threads, gflops: await measureMatmul(1024, threads) });
}

const stories = sharedPath("models", "stories260K", "stories260K.bin");
if (existsSync(stories)) {
  for (const threads of threadCounts) (results.models as unknown[]).push(await measureModel(stories, threads, 256, 256));
}

const smollm2 = process.env.ELITEKV_SMOLLM2_GGUF ?? fetchedSmollm2();
if (smollm2 !== undefined) {
  for (const threads of threadCounts) (results.models as unknown[]).push(await measureModel(smollm2, threads, 256, 32));
}

process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);

/** Returns the SmolLM2 file cached by `elitekv fetch smollm2`, or undefined when it was not fetched. */
function fetchedSmollm2(): string | undefined {
  try {
    return resolveModelPath("smollm2");
  } catch {
    return undefined;
  }
}
