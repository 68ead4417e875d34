// Benchmark settings from environment variables, so that `pnpm bench` runs the full measurement and a
// quick check shrinks it without code changes. Every variable is optional, and a bad value raises an
// InvalidArgumentError that names the variable.
import { availableParallelism } from "node:os";

import { InvalidArgumentError } from "@elitekv/core";

import { benchBackendNames, benchWeightBytesPerElement, isBenchBackendName, type BenchBackendName, type BenchWeightDtype } from "./bench-backend.js";
import { parseBenchConfiguration, type BenchConfiguration } from "./bench-model.js";

export interface BenchSettings {
  /** ELITEKV_BENCH_BACKEND: "cpu" or "ort". */
  backend: BenchBackendName;
  /** ELITEKV_BENCH_CONTEXTS: comma-separated cache lengths. */
  contexts: number[];
  /** ELITEKV_BENCH_CONFIGS: comma-separated "full" and EliteKV cache ratios. */
  configurations: BenchConfiguration[];
  /** ELITEKV_BENCH_RUNS: timed decode runs per context. */
  runs: number;
  /** ELITEKV_BENCH_DECODE_STEPS: decode steps per run. */
  decodeSteps: number;
  /** ELITEKV_BENCH_WARMUP_STEPS: untimed decode steps before each context's runs. */
  warmupSteps: number;
  /** ELITEKV_BENCH_PREFILL_CHUNK: tokens per prefill call. */
  prefillChunk: number;
  /** ELITEKV_BENCH_PREFILL_RUNS: timed prefills of one chunk. */
  prefillRuns: number;
  /** ELITEKV_BENCH_THREADS: threads of the backend, of llama.cpp and of the copy benchmark. */
  threads: number;
  /** ELITEKV_BENCH_WEIGHT_DTYPE: storage type of the weights in the backend, also used for the bytes-read count. */
  weightDtype: BenchWeightDtype;
  weightBytesPerElement: number;
  /** ELITEKV_BENCH_COPY_MIB: source buffer of the copy benchmark, MiB. */
  copyMebibytes: number;
  /** ELITEKV_BENCH_PEER: "0" skips llama.cpp in the decode benchmark. */
  peer: boolean;
  /** ELITEKV_BENCH_PEER_INSTALL: "0" uses an installed node-llama-cpp but never installs one. */
  peerInstall: boolean;
  /** ELITEKV_BENCH_CHILD_TIMEOUT_S: limit of each child process, seconds. */
  childTimeoutSeconds: number;
  /** ELITEKV_SMOLLM2_GGUF: the SmolLM2 GGUF file, or the fetched one when unset. */
  modelPath?: string;
}

export interface BenchDefaults {
  backend: BenchBackendName;
  contexts: number[];
  configurations: string;
}

/** Defaults of the decode-context benchmark: ORT, contexts 512 to 8192, full cache and EliteKV at 50% and 25%. */
export const decodeContextDefaults: BenchDefaults = {
  backend: "ort",
  contexts: [512, 2048, 4096, 8192],
  configurations: "full,0.5,0.25",
};

const weightDtypes: readonly BenchWeightDtype[] = ["f32", "f16", "q8", "q4"];

/** Reads the settings from `env`, with `defaults` for the variables that differ per benchmark. */
export function readBenchSettings(env: NodeJS.ProcessEnv, defaults: BenchDefaults = decodeContextDefaults): BenchSettings {
  const backend = readBackend(env.ELITEKV_BENCH_BACKEND, defaults.backend);
  const weightDtype = readWeightDtype(env.ELITEKV_BENCH_WEIGHT_DTYPE);
  const configurationsText = present(env.ELITEKV_BENCH_CONFIGS) ?? defaults.configurations;

  const settings: BenchSettings = {
    backend,
    contexts: readIntegerList("ELITEKV_BENCH_CONTEXTS", env.ELITEKV_BENCH_CONTEXTS, defaults.contexts),
    configurations: configurationsText.split(",").map((item) => parseBenchConfiguration(item, "ELITEKV_BENCH_CONFIGS")),
    runs: readInteger("ELITEKV_BENCH_RUNS", env.ELITEKV_BENCH_RUNS, 5, 1),
    decodeSteps: readInteger("ELITEKV_BENCH_DECODE_STEPS", env.ELITEKV_BENCH_DECODE_STEPS, 32, 1),
    warmupSteps: readInteger("ELITEKV_BENCH_WARMUP_STEPS", env.ELITEKV_BENCH_WARMUP_STEPS, 2, 0),
    prefillChunk: readInteger("ELITEKV_BENCH_PREFILL_CHUNK", env.ELITEKV_BENCH_PREFILL_CHUNK, 512, 1),
    prefillRuns: readInteger("ELITEKV_BENCH_PREFILL_RUNS", env.ELITEKV_BENCH_PREFILL_RUNS, 3, 1),
    threads: readInteger("ELITEKV_BENCH_THREADS", env.ELITEKV_BENCH_THREADS, availableParallelism(), 1),
    weightDtype,
    weightBytesPerElement: benchWeightBytesPerElement(weightDtype),
    copyMebibytes: readInteger("ELITEKV_BENCH_COPY_MIB", env.ELITEKV_BENCH_COPY_MIB, 256, 1),
    peer: readFlag("ELITEKV_BENCH_PEER", env.ELITEKV_BENCH_PEER, true),
    peerInstall: readFlag("ELITEKV_BENCH_PEER_INSTALL", env.ELITEKV_BENCH_PEER_INSTALL, true),
    childTimeoutSeconds: readInteger("ELITEKV_BENCH_CHILD_TIMEOUT_S", env.ELITEKV_BENCH_CHILD_TIMEOUT_S, 3600, 1),
  };
  const modelPath = present(env.ELITEKV_SMOLLM2_GGUF);
  if (modelPath !== undefined) settings.modelPath = modelPath;
  return settings;
}

/** Returns `value` unless it is undefined or only whitespace. */
function present(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function readBackend(value: string | undefined, fallback: BenchBackendName): BenchBackendName {
  const text = present(value);
  if (text === undefined) return fallback;
  if (!isBenchBackendName(text)) {
    throw new InvalidArgumentError(`unknown backend ${JSON.stringify(text)}; set it to one of ${benchBackendNames.join(", ")}`, {
      field: "ELITEKV_BENCH_BACKEND",
    });
  }
  return text;
}

function readWeightDtype(value: string | undefined): BenchWeightDtype {
  const text = present(value);
  if (text === undefined) return "f32";
  if (!(weightDtypes as readonly string[]).includes(text)) {
    throw new InvalidArgumentError(`unsupported weight dtype ${JSON.stringify(text)}; set it to one of ${weightDtypes.join(", ")}`, {
      field: "ELITEKV_BENCH_WEIGHT_DTYPE",
    });
  }
  return text as BenchWeightDtype;
}

function readInteger(name: string, value: string | undefined, fallback: number, min: number): number {
  const text = present(value);
  return text === undefined ? fallback : parseInteger(name, text, min);
}

function readIntegerList(name: string, value: string | undefined, fallback: number[]): number[] {
  const text = present(value);
  if (text === undefined) return [...fallback];
  return text.split(",").map((item) => parseInteger(name, item.trim(), 1));
}

function parseInteger(name: string, text: string, min: number): number {
  const parsed = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(parsed) || parsed < min) {
    throw new InvalidArgumentError(`invalid value ${JSON.stringify(text)}; set it to whole numbers of at least ${min}`, { field: name });
  }
  return parsed;
}

function readFlag(name: string, value: string | undefined, fallback: boolean): boolean {
  const text = present(value);
  if (text === undefined) return fallback;
  if (text === "1" || text === "true") return true;
  if (text === "0" || text === "false") return false;
  throw new InvalidArgumentError(`invalid value ${JSON.stringify(text)}; set it to 1 or 0`, { field: name });
}
