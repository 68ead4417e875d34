// A line chart as a standalone SVG document: one <path class="series"> per series, optional horizontal
// reference lines, linear or log y axis with tick labels and grid, axis labels, title and legend.
import { InvalidArgumentError } from "@elitekv/core";

import { formatTick, linearScale, logScale, paddedDomain, type AxisScale, type ScaleKind } from "./axis-scale.js";
import { escapeXml, formatCoordinate, svgDocument, svgElement, svgText } from "./svg-markup.js";

export interface ChartPoint {
  x: number;
  y: number;
}

export interface LineSeries {
  name: string;
  points: ChartPoint[];
  /** Stroke color. Defaults to the palette entry of the series index. */
  color?: string;
  /** SVG stroke-dasharray, such as "6 4". The line is solid when omitted. */
  dash?: string;
  /** Stroke width in pixels. Defaults to 2. */
  width?: number;
}

/** A horizontal line across the plot at `y`, such as the base model's perplexity. */
export interface ReferenceLine {
  name: string;
  y: number;
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Defaults to "linear". A log axis leaves out points with y <= 0. */
  yScale?: ScaleKind;
  /** Tick values of the x axis, such as the swept ratios. Defaults to 1-2-5 linear ticks. */
  xTicks?: number[];
  series: LineSeries[];
  referenceLines?: ReferenceLine[];
  /** Pixels; defaults to 760 by 440. The height grows when the legend needs more room. */
  width?: number;
  height?: number;
}

/** Color-blind-friendly categorical palette (Tableau 10). */
export const seriesPalette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

const margin = { left: 76, top: 48, bottom: 58, legendGap: 16 };
const legendWidth = 230;
const legendRowHeight = 18;
const referenceColor = "#555555";

/**
 * Renders `spec` as an SVG document. Points that a log axis cannot show (y <= 0) or that are not finite
 * are left out, and the series line breaks there. Throws InvalidArgumentError when no series has a
 * point that can be drawn.
 */
export function renderLineChart(spec: LineChartSpec): string {
  const yKind = spec.yScale ?? "linear";
  const drawable = (point: ChartPoint): boolean => Number.isFinite(point.x) && Number.isFinite(point.y) && (yKind === "linear" || point.y > 0);
  const points = spec.series.flatMap((series) => series.points.filter(drawable));
  if (points.length === 0) {
    throw new InvalidArgumentError(`the chart "${spec.title}" has no point that can be drawn`, { field: "series" });
  }
  const references = (spec.referenceLines ?? []).filter((line) => Number.isFinite(line.y) && (yKind === "linear" || line.y > 0));

  const legendEntries = spec.series.length + references.length;
  const width = spec.width ?? 760;
  const height = Math.max(spec.height ?? 440, margin.top + legendEntries * legendRowHeight + 24);
  const plot = { left: margin.left, right: width - legendWidth - margin.legendGap, top: margin.top, bottom: height - margin.bottom };

  const xValues = [...points.map((point) => point.x), ...(spec.xTicks ?? [])];
  const xDomain = paddedDomain(xValues, "linear");
  const xTicks = (spec.xTicks ?? []).filter((tick) => tick >= xDomain[0] && tick <= xDomain[1]);
  const xScale = linearScale(xDomain, [plot.left, plot.right], spec.xTicks === undefined ? undefined : xTicks);
  const yDomain = paddedDomain([...points.map((point) => point.y), ...references.map((line) => line.y)], yKind);
  const yScale = yKind === "log" ? logScale(yDomain, [plot.bottom, plot.top]) : linearScale(yDomain, [plot.bottom, plot.top]);

  const body = [
    svgText(spec.title, { class: "chart-title", x: width / 2, y: 24, "text-anchor": "middle", "font-size": 15, "font-weight": "bold" }),
    renderAxes(xScale, yScale, plot, spec),
    ...references.map((line) => renderReferenceLine(line, yScale, plot)),
    ...spec.series.map((series, index) => renderSeries(series, index, xScale, yScale, drawable)),
    renderLegend(spec.series, references, plot.right + margin.legendGap, plot.top),
  ];
  return svgDocument({ width, height, title: spec.title, body });
}

function renderAxes(xScale: AxisScale, yScale: AxisScale, plot: { left: number; right: number; top: number; bottom: number }, spec: LineChartSpec): string {
  const parts: string[] = [];

  for (const tick of yScale.ticks) {
    const y = yScale.map(tick);
    parts.push(svgElement("line", { class: "grid", x1: plot.left, x2: plot.right, y1: y, y2: y, stroke: "#e5e5e5" }));
    parts.push(svgText(formatTick(tick), { class: "tick-label tick-label-y", x: plot.left - 6, y: y + 4, "text-anchor": "end" }));
  }
  for (const tick of xScale.ticks) {
    const x = xScale.map(tick);
    parts.push(svgElement("line", { class: "tick", x1: x, x2: x, y1: plot.bottom, y2: plot.bottom + 5, stroke: "#333333" }));
    parts.push(svgText(formatTick(tick), { class: "tick-label tick-label-x", x, y: plot.bottom + 18, "text-anchor": "middle" }));
  }

  parts.push(svgElement("line", { class: "axis axis-x", x1: plot.left, x2: plot.right, y1: plot.bottom, y2: plot.bottom, stroke: "#333333" }));
  parts.push(svgElement("line", { class: "axis axis-y", x1: plot.left, x2: plot.left, y1: plot.top, y2: plot.bottom, stroke: "#333333" }));

  const xCenter = (plot.left + plot.right) / 2;
  const yCenter = (plot.top + plot.bottom) / 2;
  const yLabelX = 18;
  const yLabel = yScale.kind === "log" ? `${spec.yLabel} (log scale)` : spec.yLabel;
  parts.push(svgText(spec.xLabel, { class: "axis-label axis-label-x", x: xCenter, y: plot.bottom + 42, "text-anchor": "middle" }));
  parts.push(
    svgText(yLabel, {
      class: "axis-label axis-label-y",
      x: yLabelX,
      y: yCenter,
      "text-anchor": "middle",
      transform: `rotate(-90 ${formatCoordinate(yLabelX)} ${formatCoordinate(yCenter)})`,
    }),
  );
  return svgElement("g", { class: "axes" }, parts.join(""));
}

function renderReferenceLine(line: ReferenceLine, yScale: AxisScale, plot: { left: number; right: number }): string {
  const y = yScale.map(line.y);
  const label = `${line.name} ${formatTick(Number(line.y.toPrecision(4)))}`;
  return svgElement(
    "g",
    { class: "reference" },
    svgElement("line", { x1: plot.left, x2: plot.right, y1: y, y2: y, stroke: referenceColor, "stroke-dasharray": "2 3", "stroke-width": 1.5 }) +
      svgText(label, { x: plot.right - 4, y: y - 5, "text-anchor": "end", fill: referenceColor }),
  );
}

function renderSeries(series: LineSeries, index: number, xScale: AxisScale, yScale: AxisScale, drawable: (point: ChartPoint) => boolean): string {
  const color = series.color ?? seriesPalette[index % seriesPalette.length];
  const sorted = [...series.points].sort((a, b) => a.x - b.x);

  // A point that cannot be drawn breaks the line, so the next drawable point starts a new subpath.
  const commands: string[] = [];
  const markers: string[] = [];
  let penDown = false;
  for (const point of sorted) {
    if (!drawable(point)) {
      penDown = false;
      continue;
    }
    const x = formatCoordinate(xScale.map(point.x));
    const y = formatCoordinate(yScale.map(point.y));
    commands.push(`${penDown ? "L" : "M"}${x} ${y}`);
    markers.push(svgElement("circle", { cx: x, cy: y, r: 3, fill: color }));
    penDown = true;
  }

  const path = svgElement("path", {
    class: "series",
    "data-series": series.name,
    d: commands.join(" "),
    fill: "none",
    stroke: color,
    "stroke-width": series.width ?? 2,
    "stroke-dasharray": series.dash,
  });
  return svgElement("g", { class: "series-group" }, `${svgElement("title", {}, escapeXml(series.name))}${path}${markers.join("")}`);
}

function renderLegend(series: readonly LineSeries[], references: readonly ReferenceLine[], left: number, top: number): string {
  const entries: string[] = [];
  const entry = (row: number, name: string, stroke: Record<string, string | number | undefined>): string => {
    const y = top + row * legendRowHeight + 6;
    return svgElement(
      "g",
      { class: "legend-entry" },
      svgElement("line", { x1: left, x2: left + 24, y1: y, y2: y, ...stroke }) + svgText(name, { x: left + 30, y: y + 4 }),
    );
  };

  series.forEach((item, index) => {
    const color = item.color ?? seriesPalette[index % seriesPalette.length];
    entries.push(entry(index, item.name, { stroke: color, "stroke-width": item.width ?? 2, "stroke-dasharray": item.dash }));
  });
  references.forEach((line, index) => {
    entries.push(entry(series.length + index, line.name, { stroke: referenceColor, "stroke-width": 1.5, "stroke-dasharray": "2 3" }));
  });
  return svgElement("g", { class: "legend" }, entries.join(""));
}
