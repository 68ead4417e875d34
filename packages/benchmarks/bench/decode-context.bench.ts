// Decode throughput of SmolLM2-135M-Instruct at growing contexts on one backend (ELITEKV_BENCH_BACKEND,
// default "ort"), for the full KV cache and EliteKV conversions in the same run. Each configuration runs
// in its own child process, which reports its peak RSS. The script adds the copy bandwidth of the
// machine, the memory roofline of every configuration and context, llama.cpp at context 512 as a peer,
// and the throughput targets. It prints one JSON object. docs/benchmarks.md lists every env var.
// Run: node --conditions=elitekv-source --import tsx packages/benchmarks/bench/decode-context.bench.ts
import { resolveModelPath } from "@elitekv/models";

import {
  benchConfigurationLabel,
  createBenchBackend,
  ensureLlamaCppPeer,
  evaluateThroughputTarget,
  measureCopyBandwidth,
  readBenchSettings,
  rooflineEstimate,
  runDecodeConfigurationInChild,
  runLlamaCppDecodeInChild,
  type BenchSettings,
  type CopyBandwidth,
  type DecodeConfigurationReport,
  type ThroughputTarget,
} from "../src/index.js";

/** The context of the llama.cpp comparison target. */
const peerContext = 512;

const notes = [
  "EliteKV models are converted in memory with convertModel(model, high-frequency ranking, { ratio }, { svd: \"weight\" }). " +
    "Decode speed depends on the rotated chunks r and the latent width d_c, not on which chunks are kept, so these " +
    "conversions are for speed only and their quality is not measured here.",
  "Contexts are reached by real prefills of State of the Union text in chunks of prefillChunk tokens. The timed runs at " +
    "a context follow each other, so run k starts k x decodeSteps positions later; timedCacheTokens gives the range.",
  "Roofline: tokens/s <= bandwidth / bytes read per token. Bytes read per token count every weight once at " +
    "weightBytesPerElement (the embedding as one row, the output head whole) plus the cache bytes of the layout at " +
    "the mean timed cache length. The bandwidth is the higher median copy bandwidth of the 1-thread and the " +
    "benchmark-thread-count copies, and bandwidthThreads gives its thread count.",
  "Peak RSS is process.resourceUsage().maxRSS of each child process, KiB. It includes model load and, for EliteKV, " +
    "the conversion, which peakRssBeforeSessionKiB isolates.",
];

async function main(): Promise<Record<string, unknown>> {
  const settings = readBenchSettings(process.env);
  const output: Record<string, unknown> = { benchmark: "decode-context", settings: describeSettings(settings), notes };

  const bandwidth = await measureBandwidth(settings);
  output.memoryBandwidth = bandwidth;
  // The bound uses the best copy bandwidth measured, so that a copy slowed by other load does not lower it.
  const rooflineBandwidth = bandwidth.reduce((best, entry) =>
    entry.gigabytesPerSecond.median > best.gigabytesPerSecond.median ? entry : best,
  );

  let modelPath: string;
  try {
    modelPath = settings.modelPath ?? resolveModelPath("smollm2");
  } catch (error) {
    output.error = `SmolLM2 is not available: ${(error as Error).message}`;
    return output;
  }
  output.model = { name: "SmolLM2-135M-Instruct", path: modelPath };

  const backendCheck = await checkBackend(settings);
  output.backend = backendCheck;
  if (!backendCheck.available) return output;

  const configurations: Record<string, DecodeConfigurationReport | { error: string; stderrTail: string }> = {};
  for (const configuration of settings.configurations) {
    const label = benchConfigurationLabel(configuration);
    process.stderr.write(`decode-context: measuring ${label} on ${settings.backend}\n`);
    const outcome = await runDecodeConfigurationInChild(
      {
        modelPath,
        backend: settings.backend,
        threads: settings.threads,
        configuration,
        harness: harnessOptions(settings, settings.contexts),
        weightDtype: settings.weightDtype,
      },
      { timeoutMs: settings.childTimeoutSeconds * 1000 },
    );
    configurations[label] = outcome.ok ? outcome.value : { error: outcome.error, stderrTail: outcome.stderrTail };
  }
  output.configurations = configurations;
  output.roofline = rooflineRows(configurations, rooflineBandwidth);

  const peer = await measurePeer(settings, modelPath);
  output.llamaCpp = peer.report;

  output.targets = targets(settings, configurations, peer.tokensPerSecond);
  return output;
}

function describeSettings(settings: BenchSettings): Record<string, unknown> {
  return { ...settings, configurations: settings.configurations.map(benchConfigurationLabel) };
}

function harnessOptions(settings: BenchSettings, contexts: number[]) {
  return {
    contexts,
    decodeSteps: settings.decodeSteps,
    runs: settings.runs,
    warmupSteps: settings.warmupSteps,
    prefillChunk: settings.prefillChunk,
    prefillRuns: settings.prefillRuns,
  };
}

/** Measures copy bandwidth on one thread, then on the benchmark's thread count when that is larger. */
async function measureBandwidth(settings: BenchSettings): Promise<CopyBandwidth[]> {
  const bytes = settings.copyMebibytes * 1024 * 1024;
  const results = [await measureCopyBandwidth({ bytes, threads: 1 })];
  if (settings.threads > 1) results.push(await measureCopyBandwidth({ bytes, threads: settings.threads }));
  return results;
}

/** Creates and disposes the backend once, so that an unavailable backend is reported before any child runs. */
async function checkBackend(settings: BenchSettings): Promise<{ name: string; available: boolean; reason?: string }> {
  try {
    const backend = await createBenchBackend(settings.backend, { threads: settings.threads, weightDtype: settings.weightDtype });
    await backend.dispose();
    return { name: settings.backend, available: true };
  } catch (error) {
    return { name: settings.backend, available: false, reason: (error as Error).message };
  }
}

function rooflineRows(configurations: Record<string, DecodeConfigurationReport | { error: string }>, bandwidth: CopyBandwidth) {
  const bandwidthBytesPerSecond = bandwidth.gigabytesPerSecond.median * 1e9;
  const rows: Record<string, unknown>[] = [];
  for (const [label, report] of Object.entries(configurations)) {
    if ("error" in report) continue;
    for (const entry of report.decode) {
      rows.push({
        configuration: label,
        context: entry.context,
        meanCacheTokens: entry.timedCacheTokens.mean,
        weightBytes: entry.bytesReadPerToken.weightBytes,
        cacheBytes: entry.bytesReadPerToken.cacheBytes,
        bandwidthThreads: bandwidth.threads,
        ...rooflineEstimate(bandwidthBytesPerSecond, entry.bytesReadPerToken.totalBytes, entry.tokensPerSecond.median),
      });
    }
  }
  return rows;
}

/** Measures llama.cpp at context 512 with the same settings, or returns the reason it did not run. */
async function measurePeer(settings: BenchSettings, modelPath: string): Promise<{ report: unknown; tokensPerSecond?: number }> {
  if (!settings.peer) return { report: { skipped: "ELITEKV_BENCH_PEER=0" } };
  if (!settings.contexts.includes(peerContext)) {
    return { report: { skipped: `context ${peerContext} is not in ELITEKV_BENCH_CONTEXTS` } };
  }

  let entry: string;
  try {
    entry = ensureLlamaCppPeer({ install: settings.peerInstall }).entry;
  } catch (error) {
    return { report: { error: `node-llama-cpp is unavailable: ${(error as Error).message}` } };
  }

  process.stderr.write(`decode-context: measuring llama.cpp at ${peerContext}\n`);
  const outcome = await runLlamaCppDecodeInChild(
    { entry, modelPath, threads: settings.threads, ...harnessOptions(settings, [peerContext]) },
    { timeoutMs: settings.childTimeoutSeconds * 1000 },
  );
  if (!outcome.ok) return { report: { error: outcome.error, stderrTail: outcome.stderrTail } };
  return { report: outcome.value, tokensPerSecond: outcome.value.decode[0]?.tokensPerSecond.median };
}

function targets(
  settings: BenchSettings,
  configurations: Record<string, DecodeConfigurationReport | { error: string }>,
  llamaCppAt512: number | undefined,
): ThroughputTarget[] {
  const medianAt = (label: string, context: number): number | undefined => {
    const report = configurations[label];
    if (report === undefined || "error" in report) return undefined;
    return report.decode.find((entry) => entry.context === context)?.tokensPerSecond.median;
  };

  return [
    evaluateThroughputTarget({
      name: "elitekv-25-vs-full-at-8192",
      description: "EliteKV 25% decode at 8192 >= 1.4 x full-cache decode at 8192",
      measured: medianAt("elitekv-0.25", 8192),
      reference: medianAt("full", 8192),
      required: 1.4,
      missingReason: "needs configurations full and 0.25 measured at context 8192",
    }),
    evaluateThroughputTarget({
      name: "full-vs-llama-cpp-at-512",
      description: `full-cache decode on ${settings.backend} at ${peerContext} >= 0.8 x llama.cpp decode at ${peerContext}`,
      measured: medianAt("full", peerContext),
      reference: llamaCppAt512,
      required: 0.8,
      missingReason: `needs configuration full and llama.cpp measured at context ${peerContext}`,
    }),
  ];
}

try {
  process.stdout.write(`${JSON.stringify(await main(), null, 2)}\n`);
} catch (error) {
  process.stdout.write(`${JSON.stringify({ benchmark: "decode-context", error: (error as Error).message }, null, 2)}\n`);
  process.exitCode = 1;
}
