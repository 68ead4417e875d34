// `elitekv demo`: the whole EliteKV pipeline on SmolLM2 with no arguments, ending in a base versus
// EliteKV table and one greedy sample from each model.
import { Option, type Command } from "commander";

import type { CliIo } from "../cli-io.js";
import { fullDemoPlan, quickDemoPlan, runDemo, type DemoResult } from "../elitekv/run-demo.js";
import { addCacheDirOption, addOutputOptions, addThreadOptions, type OutputOptions, type ThreadOptions } from "../options/common-options.js";
import { formatInteger } from "../output/format-table.js";
import { writeJson } from "../output/write-json.js";
import { formatSeconds } from "../progress/format-progress.js";
import { runWithProgress } from "../progress/run-with-progress.js";

interface DemoOptions extends OutputOptions, ThreadOptions {
  cacheDir?: string;
  workDir?: string;
  quick?: boolean;
  model?: string;
}

export function registerDemoCommand(program: Command, io: CliIo): void {
  const plan = fullDemoPlan;
  const command = program
    .command("demo")
    .description(
      `fetch SmolLM2 if missing, rank its RoPE chunks on ${plan.analysisText} text, convert it to a ${plan.ratio * 100}% KV ` +
        `cache with the activation-aware SVD on ${plan.covarianceText}, and compare it with the base model on ` +
        `${plan.evalWindows} windows of ${plan.evalWindow} tokens of ${plan.evalText}`,
    );
  addCacheDirOption(command);
  command
    .option("--work-dir <dir>", "folder for ranking.json and the converted checkpoint (default: <cache dir>/demo)")
    .option("--quick", "shrink every step (calibration, evaluation, generation) to a few windows of 64 tokens");
  // A tiny model keeps the end-to-end test of the demo short; users run the demo on SmolLM2.
  command.addOption(new Option("--model <path>", "model to use instead of SmolLM2").hideHelp());
  addThreadOptions(command);
  addOutputOptions(command);

  command.action(async (options: DemoOptions) => {
    const result = await runWithProgress(io.stderr, options.quiet, (onProgress) =>
      runDemo(
        {
          plan: options.quick === true ? quickDemoPlan : fullDemoPlan,
          cacheDir: options.cacheDir,
          workDir: options.workDir,
          model: options.model,
          backend: options.backend,
          threads: options.threads,
        },
        onProgress,
      ),
    );

    if (options.json === true) {
      writeJson(io.stdout, demoJson(result));
      return;
    }
    io.stdout.write(formatDemoReport(result));
  });
}

function demoJson(result: DemoResult): object {
  const { comparison, checkpoint } = result;
  return {
    model: result.model,
    checkpoint: checkpoint.out,
    ranking: result.ranking,
    ratio: checkpoint.ratio,
    ropeChunks: checkpoint.ropeChunks,
    latentDim: checkpoint.latentDim,
    base: comparison.base,
    eliteKv: comparison.model,
    pplIncreasePct: comparison.pplIncreasePct,
    klDivergence: comparison.klDivergence,
    top1Agreement: comparison.top1Agreement,
    cacheRatio: comparison.cacheRatio,
    cacheBytesPerToken: comparison.cacheBytesPerToken,
    evalTokens: comparison.tokens,
    samples: result.samples,
    seconds: result.seconds,
  };
}

/** Formats the three-column base versus EliteKV table and the two samples. */
function formatDemoReport(result: DemoResult): string {
  const { comparison, checkpoint, samples } = result;
  const rows: [string, string, string][] = [
    ["", "base", "EliteKV"],
    ["perplexity", comparison.base.ppl.toFixed(3), `${comparison.model.ppl.toFixed(3)} (${signed(comparison.pplIncreasePct)}%)`],
    ["KL(base ‖ EliteKV), nats/token", "0", comparison.klDivergence.toExponential(3)],
    ["top-1 agreement", "100%", `${(100 * comparison.top1Agreement).toFixed(2)}%`],
    ["KV cache bytes per token", formatInteger(comparison.cacheBytesPerToken.base), formatInteger(comparison.cacheBytesPerToken.model)],
    ["KV cache ratio", "1", comparison.cacheRatio.toFixed(4)],
  ];
  const labelWidth = Math.max(...rows.map((row) => row[0].length));
  const baseWidth = Math.max(...rows.map((row) => row[1].length));
  const table = rows.map(([label, base, model]) => `${label.padEnd(labelWidth)}  ${base.padStart(baseWidth)}  ${model}\n`).join("");

  return (
    `model       ${result.model}\n` +
    `checkpoint  ${checkpoint.out} (r = ${checkpoint.ropeChunks} chunks per KV head, d_c = ${checkpoint.latentDim})\n` +
    `evaluation  ${formatInteger(comparison.tokens)} predicted tokens in ${comparison.windows} windows\n\n` +
    table +
    `\nprompt   ${JSON.stringify(samples.prompt)}\n` +
    `base     ${JSON.stringify(samples.base.text)}\n` +
    `EliteKV  ${JSON.stringify(samples.model.text)}\n` +
    `\ntotal time ${formatSeconds(result.seconds)}\n`
  );
}

function signed(value: number): string {
  return `${value >= 0 ? "+" : ""}${value.toFixed(2)}`;
}
