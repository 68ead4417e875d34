// llama.cpp as a peer: node-llama-cpp decode tokens/s on the SmolLM2-135M-Instruct GGUF at contexts 512
// and 4096 (ELITEKV_BENCH_CONTEXTS), CPU only, on ELITEKV_BENCH_THREADS threads, measured like the
// decode-context benchmark. node-llama-cpp is installed on demand outside the repository. When it
// cannot be installed or loaded, the JSON gives the error and the script still exits 0.
// Run: node --conditions=elitekv-source --import tsx packages/benchmarks/bench/llama-cpp-peer.bench.ts
import { resolveModelPath } from "@elitekv/models";

import { ensureLlamaCppPeer, readBenchSettings, runLlamaCppDecodeInChild, type LlamaCppPeer } from "../src/index.js";

async function main(): Promise<Record<string, unknown>> {
  const settings = readBenchSettings(process.env, { backend: "cpu", contexts: [512, 4096], configurations: "full" });
  const output: Record<string, unknown> = {
    benchmark: "llama-cpp-peer",
    settings: {
      contexts: settings.contexts,
      threads: settings.threads,
      runs: settings.runs,
      decodeSteps: settings.decodeSteps,
      warmupSteps: settings.warmupSteps,
      prefillChunk: settings.prefillChunk,
      prefillRuns: settings.prefillRuns,
      install: settings.peerInstall,
    },
    notes: [
      "CPU only (getLlama gpu false, build never): the prebuilt binary is used as is, nothing compiles or downloads.",
      "Decode steps are greedy (temperature 0); each evaluates one token. The KV cache type is node-llama-cpp's default (F16).",
    ],
  };

  let modelPath: string;
  try {
    modelPath = settings.modelPath ?? resolveModelPath("smollm2");
  } catch (error) {
    output.error = `SmolLM2 is not available: ${(error as Error).message}`;
    return output;
  }
  output.model = { name: "SmolLM2-135M-Instruct", path: modelPath };

  let peer: LlamaCppPeer;
  try {
    process.stderr.write("llama-cpp-peer: checking node-llama-cpp\n");
    peer = ensureLlamaCppPeer({ install: settings.peerInstall });
  } catch (error) {
    output.error = `node-llama-cpp is unavailable: ${(error as Error).message}`;
    return output;
  }
  output.install = { folder: peer.folder, version: peer.version, binaryPackage: peer.binaryPackage, installedNow: peer.installedNow };

  const outcome = await runLlamaCppDecodeInChild(
    {
      entry: peer.entry,
      modelPath,
      threads: settings.threads,
      contexts: settings.contexts,
      decodeSteps: settings.decodeSteps,
      runs: settings.runs,
      warmupSteps: settings.warmupSteps,
      prefillChunk: settings.prefillChunk,
      prefillRuns: settings.prefillRuns,
    },
    { timeoutMs: settings.childTimeoutSeconds * 1000 },
  );
  if (outcome.ok) output.llamaCpp = outcome.value;
  else output.error = { message: `llama.cpp run failed: ${outcome.error}`, stderrTail: outcome.stderrTail };
  return output;
}

try {
  process.stdout.write(`${JSON.stringify(await main(), null, 2)}\n`);
} catch (error) {
  // Exits 0 on this error too, so that a missing peer does not fail the whole `pnpm bench` run.
  process.stdout.write(`${JSON.stringify({ benchmark: "llama-cpp-peer", error: (error as Error).message }, null, 2)}\n`);
}
