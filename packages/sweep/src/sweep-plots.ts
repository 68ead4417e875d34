// The sweep's SVG plots: quality against cache ratio (PPL, KL, top-1), the RoPElite elite chunks of
// every layer at each swept r, and the RoPElite greedy objective per round.
import { basename } from "node:path";

import { rankingStrategies, type RopeliteRanking } from "@elitekv/ropelite";

import { renderHeatmapGrid, type HeatmapPanel } from "./svg/heatmap-grid.js";
import { renderLineChart, seriesPalette, type LineSeries } from "./svg/line-chart.js";
import type { SweepReport, SweepReportRow } from "./sweep-report.js";

export interface SweepPlot {
  /** File name inside the output folder. */
  file: string;
  title: string;
  svg: string;
}

export const pplPlotFile = "ppl-vs-ratio.svg";
export const klPlotFile = "kl-vs-ratio.svg";
export const top1PlotFile = "top1-vs-ratio.svg";
export const greedyObjectivePlotFile = "greedy-objective.svg";

export function eliteChunksPlotFile(layer: number): string {
  return `elite-chunks-layer-${layer}.svg`;
}

/**
 * Renders every plot of `report`. The elite chunk heatmaps and the greedy objective need the RoPElite
 * ranking, so they are left out when `rankings` has none.
 */
export function renderSweepPlots(report: SweepReport, rankings: readonly RopeliteRanking[]): SweepPlot[] {
  const plots: SweepPlot[] = [];
  const model = basename(report.model.path);
  const xTicks = [...new Set(report.rows.map((row) => row.cacheRatio))].sort((a, b) => a - b);
  const series = (metric: (row: SweepReportRow) => number): LineSeries[] => qualitySeries(report.rows, metric);

  const pplTitle = `Perplexity vs KV cache ratio, ${model}`;
  plots.push({
    file: pplPlotFile,
    title: pplTitle,
    svg: renderLineChart({
      title: pplTitle,
      xLabel: "KV cache ratio (cached values / full cache)",
      yLabel: "perplexity",
      yScale: "log",
      xTicks,
      series: series((row) => row.ppl),
      referenceLines: [{ name: "base model", y: report.base.ppl }],
    }),
  });

  // KL is 0 only for a conversion identical to the base, which a log axis cannot show.
  const klTitle = `KL(base ‖ model) vs KV cache ratio, ${model}`;
  const klPositive = report.rows.every((row) => row.klDivergence > 0);
  plots.push({
    file: klPlotFile,
    title: klTitle,
    svg: renderLineChart({
      title: klTitle,
      xLabel: "KV cache ratio (cached values / full cache)",
      yLabel: "mean KL divergence (nats per token)",
      yScale: klPositive ? "log" : "linear",
      xTicks,
      series: series((row) => row.klDivergence),
    }),
  });

  const top1Title = `Top-1 agreement with the base model vs KV cache ratio, ${model}`;
  plots.push({
    file: top1PlotFile,
    title: top1Title,
    svg: renderLineChart({
      title: top1Title,
      xLabel: "KV cache ratio (cached values / full cache)",
      yLabel: "top-1 agreement (fraction of positions)",
      xTicks,
      series: series((row) => row.top1Agreement),
    }),
  });

  const ropelite = rankings.find((ranking) => ranking.strategy === "ropelite");
  if (ropelite === undefined) return plots;
  plots.push(...eliteChunkPlots(report, ropelite));
  plots.push(greedyObjectivePlot(report, ropelite));
  return plots;
}

/**
 * Returns one series per (strategy, SVD mode) in report order. The color follows the strategy and the
 * dash the SVD mode, so both plots and legends read the same.
 */
function qualitySeries(rows: readonly SweepReportRow[], metric: (row: SweepReportRow) => number): LineSeries[] {
  const series = new Map<string, LineSeries>();
  for (const row of rows) {
    const name = `${row.strategy}, ${row.svd} SVD`;
    let entry = series.get(name);
    if (entry === undefined) {
      const strategyIndex = (rankingStrategies as readonly string[]).indexOf(row.strategy);
      entry = {
        name,
        points: [],
        color: seriesPalette[strategyIndex % seriesPalette.length],
        dash: row.svd === "activation" ? "6 4" : undefined,
      };
      series.set(name, entry);
    }
    entry.points.push({ x: row.cacheRatio, y: metric(row) });
  }
  return [...series.values()].sort((a, b) => compareNames(a.name, b.name));
}

/** Returns one heatmap per layer with a panel per swept r: cell (KV head, chunk) is 1 when the chunk is elite. */
function eliteChunkPlots(report: SweepReport, ranking: RopeliteRanking): SweepPlot[] {
  // Ratios that resolve to the same r share a panel, because their elite chunks are the same.
  const ratiosByChunks = new Map<number, number[]>();
  for (const row of report.rows) {
    const ratios = ratiosByChunks.get(row.ropeChunks) ?? [];
    if (!ratios.includes(row.ratio)) ratios.push(row.ratio);
    ratiosByChunks.set(row.ropeChunks, ratios);
  }
  const chunkCounts = [...ratiosByChunks.keys()].sort((a, b) => b - a);

  return ranking.layers.map((layer, layerIndex) => {
    const panels: HeatmapPanel[] = chunkCounts.map((r) => ({
      title: `r = ${r} (ratio ${ratiosByChunks.get(r)!.join(", ")})`,
      values: layer.kvHeads.map((head) => head.ranking.map((_, chunk) => (head.ranking.indexOf(chunk) < r ? 1 : 0))),
      cellTitles: layer.kvHeads.map((head, kvHead) =>
        head.ranking.map((_, chunk) => {
          const rank = head.ranking.indexOf(chunk);
          return `KV head ${kvHead}, chunk ${chunk}: ${rank < r ? "elite" : "not elite"} (picked ${ordinal(rank + 1)})`;
        }),
      ),
    }));

    const title = `Elite RoPE chunks of layer ${layerIndex} (RoPElite ranking), ${basename(report.model.path)}`;
    return {
      file: eliteChunksPlotFile(layerIndex),
      title,
      svg: renderHeatmapGrid({
        title,
        xLabel: "chunk index (frequency index j)",
        yLabel: "KV head",
        panels,
        legend: { low: "rotation dropped", high: "elite chunk (keeps RoPE)" },
      }),
    };
  });
}

/** Returns the plot of the greedy objective per round: its mean over all KV heads and over each layer's KV heads. */
function greedyObjectivePlot(report: SweepReport, ranking: RopeliteRanking): SweepPlot {
  const rounds = ranking.layers[0]?.kvHeads[0]?.objective.length ?? 0;
  // Hues run from blue (first layer) to red (last layer), so that depth reads as a gradient even when
  // there are more layers than palette colors.
  const lastLayer = Math.max(1, ranking.layers.length - 1);
  const layerSeries: LineSeries[] = ranking.layers.map((layer, layerIndex) => ({
    name: `layer ${layerIndex}`,
    points: Array.from({ length: rounds }, (_, round) => ({ x: round + 1, y: mean(layer.kvHeads.map((head) => head.objective[round])) })),
    color: `hsl(${Math.round(240 - (240 * layerIndex) / lastLayer)}, 70%, 45%)`,
    width: 1,
  }));
  const allHeads = ranking.layers.flatMap((layer) => layer.kvHeads);
  const overall: LineSeries = {
    name: "mean over all KV heads",
    points: Array.from({ length: rounds }, (_, round) => ({ x: round + 1, y: mean(allHeads.map((head) => head.objective[round])) })),
    color: "#000000",
    width: 3,
  };

  const title = `RoPElite greedy objective per round, ${basename(report.model.path)}`;
  const xTicks = rounds <= 16 ? Array.from({ length: rounds }, (_, round) => round + 1) : undefined;
  return {
    file: greedyObjectivePlotFile,
    title,
    svg: renderLineChart({
      title,
      xLabel: "greedy round (rotated chunks kept per KV head, r)",
      yLabel: "objective (attention score error, summed over query heads)",
      xTicks,
      series: [overall, ...layerSeries],
    }),
  };
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

/** Orders by UTF-16 code units, independent of the locale. */
function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

function ordinal(rank: number): string {
  const tens = rank % 100;
  if (tens >= 11 && tens <= 13) return `${rank}th`;
  if (rank % 10 === 1) return `${rank}st`;
  if (rank % 10 === 2) return `${rank}nd`;
  if (rank % 10 === 3) return `${rank}rd`;
  return `${rank}th`;
}
