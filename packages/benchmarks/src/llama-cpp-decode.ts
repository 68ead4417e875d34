// Decode throughput of llama.cpp (through node-llama-cpp, CPU only) on a GGUF file. It is measured the
// way the decode harness measures a backend: timed prefills of one chunk from an empty cache, then at
// each context a chunked prefill up to it and timed runs of single-token steps. Run it in a child process.
import { fileURLToPath, pathToFileURL } from "node:url";

import { BackendFailureError, InvalidArgumentError } from "@elitekv/core";
import { loadGgufTokenizer } from "@elitekv/models";

import { loadBenchTokenIds } from "./bench-token-ids.js";
import { decodeHarnessCapacity } from "./decode-harness.js";
import { runJsonChild, type JsonChildOptions, type JsonChildOutcome } from "./json-child-process.js";
import { summarize, type Summary } from "./statistics.js";

export interface LlamaCppDecodeSpec {
  /** node-llama-cpp's entry point (LlamaCppPeer.entry). */
  entry: string;
  /** A GGUF file. */
  modelPath: string;
  threads: number;
  contexts: number[];
  decodeSteps: number;
  runs: number;
  warmupSteps: number;
  prefillChunk: number;
  prefillRuns: number;
}

export interface LlamaCppDecodeReport {
  peer: {
    package: string;
    llamaCpp: { repo: string; release: string };
    buildType: string;
    gpu: string | false;
    systemInfo: string;
  };
  context: {
    /** Tokens llama.cpp allocated, the request rounded up. */
    contextSize: number;
    batchSize: number;
    threads: number;
    flashAttention: "auto" | boolean;
    /** node-llama-cpp's default KV cache type, which the benchmark does not change. */
    kvCacheType: "F16 (default)";
  };
  modelPath: string;
  prefill: {
    chunkTokens: number;
    /** evaluateWithoutGeneratingNewTokens: llama.cpp computes no logits row for the chunk. */
    logits: "none";
    tokensPerSecond: Summary;
  };
  decode: Array<{
    context: number;
    warmupSteps: number;
    decodeSteps: number;
    timedCacheTokens: { first: number; last: number; mean: number };
    /** Greedy steps (temperature 0): each evaluates one token and samples the next from its logits. */
    tokensPerSecond: Summary;
  }>;
  memory: {
    /** process.resourceUsage().maxRSS at the end, KiB. */
    peakRssKiB: number;
    /** The same before llama.cpp loaded the model: Node, the tokenizer and the text. */
    peakRssBeforeModelKiB: number;
  };
}

/** The subset of the node-llama-cpp 3.x API this module calls. */
interface NodeLlamaCpp {
  getLlama(options: Record<string, unknown>): Promise<Llama>;
}
interface Llama {
  readonly gpu: string | false;
  readonly buildType: string;
  readonly llamaCppRelease: { repo: string; release: string };
  readonly systemInfo: string;
  loadModel(options: { modelPath: string; gpuLayers: number }): Promise<LlamaModel>;
  dispose(): Promise<void>;
}
interface LlamaModel {
  createContext(options: Record<string, unknown>): Promise<LlamaContext>;
  dispose(): Promise<void>;
}
interface LlamaContext {
  readonly contextSize: number;
  readonly batchSize: number;
  readonly currentThreads: number;
  readonly flashAttention: "auto" | boolean;
  getSequence(): LlamaSequence;
  dispose(): Promise<void>;
}
interface LlamaSequence {
  readonly nextTokenIndex: number;
  clearHistory(): Promise<void>;
  evaluateWithoutGeneratingNewTokens(tokens: number[]): Promise<void>;
  evaluate(tokens: number[], options: { temperature: number }): AsyncGenerator<number, void, void>;
}

/** The child entry point that runs measureLlamaCppDecode. */
export const llamaCppDecodeMain = fileURLToPath(new URL("./llama-cpp-decode-main.ts", import.meta.url));

/**
 * Measures llama.cpp decode in this process. Token ids are the State of the Union text encoded by the
 * GGUF file's tokenizer as loaded by @elitekv/models, the same ids the backends get. Throws
 * BackendFailureError when node-llama-cpp cannot load or run the model.
 */
export async function measureLlamaCppDecode(spec: LlamaCppDecodeSpec): Promise<LlamaCppDecodeReport> {
  if (!Number.isSafeInteger(spec.threads) || spec.threads < 1) {
    throw new InvalidArgumentError(`threads must be a positive integer, got ${String(spec.threads)}`, { field: "threads" });
  }
  const capacity = decodeHarnessCapacity(spec);
  const tokenizer = await loadGgufTokenizer(spec.modelPath);
  const ids = await loadBenchTokenIds(tokenizer, capacity);
  const peakRssBeforeModelKiB = process.resourceUsage().maxRSS;

  let library: NodeLlamaCpp;
  try {
    library = (await import(pathToFileURL(spec.entry).href)) as NodeLlamaCpp;
  } catch (error) {
    throw new BackendFailureError(`could not import node-llama-cpp from ${spec.entry}: ${(error as Error).message}`, { cause: error });
  }

  // build "never" uses the prebuilt binary or fails, so nothing compiles or downloads.
  const llama = await library.getLlama({
    gpu: false,
    build: "never",
    maxThreads: spec.threads,
    logLevel: "error",
    progressLogs: false,
    skipDownload: true,
  });
  try {
    const model = await llama.loadModel({ modelPath: spec.modelPath, gpuLayers: 0 });
    const context = await model.createContext({
      contextSize: capacity,
      batchSize: spec.prefillChunk,
      sequences: 1,
      threads: { ideal: spec.threads, min: spec.threads },
    });
    const sequence = context.getSequence();

    const prefillRates: number[] = [];
    for (let run = 0; run <= spec.prefillRuns; run++) {
      await sequence.clearHistory();
      const start = performance.now();
      await sequence.evaluateWithoutGeneratingNewTokens(ids.slice(0, spec.prefillChunk));
      const seconds = (performance.now() - start) / 1000;
      if (run > 0) prefillRates.push(spec.prefillChunk / seconds);
    }

    const decode: LlamaCppDecodeReport["decode"] = [];
    for (const target of [...new Set(spec.contexts)].sort((a, b) => a - b)) {
      await advanceTo(sequence, ids, target, spec.prefillChunk);

      // Each next() evaluates one token: the first the text token at `target`, later ones the token
      // the previous step sampled.
      const steps = sequence.evaluate([ids[target]], { temperature: 0 });
      for (let step = 0; step < spec.warmupSteps; step++) await steps.next();
      const first = sequence.nextTokenIndex + 1;
      const rates: number[] = [];
      for (let run = 0; run < spec.runs; run++) {
        const start = performance.now();
        for (let step = 0; step < spec.decodeSteps; step++) await steps.next();
        rates.push(spec.decodeSteps / ((performance.now() - start) / 1000));
      }
      const last = sequence.nextTokenIndex;
      await steps.return();

      decode.push({
        context: target,
        warmupSteps: spec.warmupSteps,
        decodeSteps: spec.decodeSteps,
        timedCacheTokens: { first, last, mean: (first + last) / 2 },
        tokensPerSecond: summarize(rates),
      });
    }

    const report: LlamaCppDecodeReport = {
      peer: {
        package: spec.entry,
        llamaCpp: llama.llamaCppRelease,
        buildType: llama.buildType,
        gpu: llama.gpu,
        systemInfo: llama.systemInfo,
      },
      context: {
        contextSize: context.contextSize,
        batchSize: context.batchSize,
        threads: context.currentThreads,
        flashAttention: context.flashAttention,
        kvCacheType: "F16 (default)",
      },
      modelPath: spec.modelPath,
      prefill: { chunkTokens: spec.prefillChunk, logits: "none", tokensPerSecond: summarize(prefillRates) },
      decode,
      memory: { peakRssKiB: process.resourceUsage().maxRSS, peakRssBeforeModelKiB },
    };
    await context.dispose();
    await model.dispose();
    return report;
  } finally {
    await llama.dispose();
  }
}

/** Evaluates text ids up to position `target` in chunks, after clearing the sequence when it is already longer. */
async function advanceTo(sequence: LlamaSequence, ids: readonly number[], target: number, chunk: number): Promise<void> {
  if (sequence.nextTokenIndex > target) await sequence.clearHistory();
  while (sequence.nextTokenIndex < target) {
    const start = sequence.nextTokenIndex;
    await sequence.evaluateWithoutGeneratingNewTokens(ids.slice(start, Math.min(start + chunk, target)));
  }
}

/** Measures llama.cpp decode in a child process (see llama-cpp-decode-main.ts). Never rejects. */
export function runLlamaCppDecodeInChild(spec: LlamaCppDecodeSpec, options?: JsonChildOptions): Promise<JsonChildOutcome<LlamaCppDecodeReport>> {
  return runJsonChild<LlamaCppDecodeReport>(llamaCppDecodeMain, spec, options);
}
