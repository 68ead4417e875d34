// Small-multiple heatmaps as one SVG document: panels of equal-sized cells whose color goes from white
// (value 0) to one color (value 1), each panel with its own title, tick labels and axis labels.
import { InvalidArgumentError } from "@elitekv/core";

import { escapeXml, formatCoordinate, svgDocument, svgElement, svgText } from "./svg-markup.js";

export interface HeatmapPanel {
  title: string;
  /** Cell values in [0, 1], [row][column]. Every panel of a grid has the same shape. */
  values: number[][];
  /** Tooltip of each cell, [row][column]. Cells have no tooltip when omitted. */
  cellTitles?: string[][];
}

export interface HeatmapGridSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  panels: HeatmapPanel[];
  /** Color at value 1, as #rrggbb. Defaults to a dark blue, #1f4e8c. */
  color?: string;
  /** Legend text for value 0 and value 1. */
  legend?: { low: string; high: string };
  /** Panels side by side before the next row of panels starts. Defaults to 4. */
  panelsPerRow?: number;
}

const margin = { left: 64, top: 52, right: 24, bottom: 12 };
const panelGap = { x: 48, y: 28 };
const panelTitleHeight = 20;
const axisLabelHeight = 38;

/**
 * Renders `spec` as an SVG document. Throws InvalidArgumentError for no panels, panels of different
 * shapes, or a value outside [0, 1].
 */
export function renderHeatmapGrid(spec: HeatmapGridSpec): string {
  const { rows, columns } = validatePanels(spec);
  const color = parseHexColor(spec.color ?? "#1f4e8c");
  const perRow = Math.max(1, Math.min(spec.panelsPerRow ?? 4, spec.panels.length));

  const cellWidth = clamp(Math.floor(256 / columns), 6, 24);
  const cellHeight = clamp(Math.floor(128 / rows), 10, 24);
  const gridWidth = columns * cellWidth;
  // A slot is as wide as its grid, its bold title or the x-axis label, whichever is widest.
  const longestTitle = Math.max(...spec.panels.map((panel) => textWidth(panel.title, 12, true)));
  const slotWidth = Math.max(gridWidth, longestTitle, textWidth(spec.xLabel, 12, false)) + 8;
  const panelHeight = panelTitleHeight + rows * cellHeight + axisLabelHeight;
  const panelRows = Math.ceil(spec.panels.length / perRow);
  const legendHeight = spec.legend === undefined ? 0 : 24;

  const panelsWidth = margin.left + perRow * slotWidth + (perRow - 1) * panelGap.x + margin.right;
  const width = Math.max(panelsWidth, textWidth(spec.title, 15, true) + 40);
  const height = margin.top + panelRows * panelHeight + (panelRows - 1) * panelGap.y + legendHeight + margin.bottom;

  const body = [svgText(spec.title, { class: "chart-title", x: width / 2, y: 24, "text-anchor": "middle", "font-size": 15, "font-weight": "bold" })];
  spec.panels.forEach((panel, index) => {
    const slotLeft = margin.left + (index % perRow) * (slotWidth + panelGap.x);
    const left = slotLeft + (slotWidth - gridWidth) / 2;
    const top = margin.top + Math.floor(index / perRow) * (panelHeight + panelGap.y);
    body.push(renderPanel(panel, { left, top, cellWidth, cellHeight, rows, columns, color, xLabel: spec.xLabel, yLabel: spec.yLabel }));
  });
  if (spec.legend !== undefined) body.push(renderLegend(spec.legend, color, margin.left, height - 20));

  return svgDocument({ width, height, title: spec.title, body });
}

interface PanelLayout {
  left: number;
  top: number;
  cellWidth: number;
  cellHeight: number;
  rows: number;
  columns: number;
  color: [number, number, number];
  xLabel: string;
  yLabel: string;
}

function renderPanel(panel: HeatmapPanel, layout: PanelLayout): string {
  const { left, cellWidth, cellHeight, rows, columns } = layout;
  const gridTop = layout.top + panelTitleHeight;
  const gridWidth = columns * cellWidth;
  const gridHeight = rows * cellHeight;
  const parts = [svgText(panel.title, { class: "panel-title", x: left + gridWidth / 2, y: layout.top + 12, "text-anchor": "middle", "font-weight": "bold" })];

  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      const value = panel.values[row][column];
      const tooltip = panel.cellTitles?.[row]?.[column];
      const attributes = {
        class: "cell",
        x: left + column * cellWidth,
        y: gridTop + row * cellHeight,
        width: cellWidth,
        height: cellHeight,
        fill: mixWithWhite(layout.color, value),
        stroke: "#d0d0d0",
        "stroke-width": 0.5,
        "data-row": row,
        "data-column": column,
        "data-value": value,
      };
      parts.push(svgElement("rect", attributes, tooltip === undefined ? undefined : svgElement("title", {}, escapeXml(tooltip))));
    }
  }

  // Label every column up to 16 columns, else every ceil(columns / 8)-th, so labels never overlap.
  const columnStride = columns <= 16 ? 1 : Math.ceil(columns / 8);
  for (let column = 0; column < columns; column += columnStride) {
    const x = left + (column + 0.5) * cellWidth;
    parts.push(svgText(String(column), { class: "tick-label tick-label-x", x, y: gridTop + gridHeight + 14, "text-anchor": "middle", "font-size": 10 }));
  }
  const rowStride = rows <= 16 ? 1 : Math.ceil(rows / 8);
  for (let row = 0; row < rows; row += rowStride) {
    const y = gridTop + (row + 0.5) * cellHeight + 4;
    parts.push(svgText(String(row), { class: "tick-label tick-label-y", x: left - 5, y, "text-anchor": "end", "font-size": 10 }));
  }

  const yCenter = gridTop + gridHeight / 2;
  const yLabelX = left - 30;
  parts.push(svgText(layout.xLabel, { class: "axis-label axis-label-x", x: left + gridWidth / 2, y: gridTop + gridHeight + 30, "text-anchor": "middle" }));
  parts.push(
    svgText(layout.yLabel, {
      class: "axis-label axis-label-y",
      x: yLabelX,
      y: yCenter,
      "text-anchor": "middle",
      transform: `rotate(-90 ${formatCoordinate(yLabelX)} ${formatCoordinate(yCenter)})`,
    }),
  );
  return svgElement("g", { class: "panel" }, parts.join(""));
}

function renderLegend(legend: { low: string; high: string }, color: [number, number, number], left: number, y: number): string {
  const swatch = (x: number, value: number, label: string): string =>
    svgElement("rect", { x, y: y - 10, width: 12, height: 12, fill: mixWithWhite(color, value), stroke: "#999999", "stroke-width": 0.5 }) +
    svgText(label, { x: x + 18, y });
  const lowWidth = 30 + textWidth(legend.low, 12, false);
  return svgElement("g", { class: "legend" }, swatch(left, 0, legend.low) + swatch(left + lowWidth, 1, legend.high));
}

function validatePanels(spec: HeatmapGridSpec): { rows: number; columns: number } {
  if (spec.panels.length === 0) {
    throw new InvalidArgumentError(`the heatmap "${spec.title}" has no panels`, { field: "panels" });
  }
  const rows = spec.panels[0].values.length;
  const columns = rows === 0 ? 0 : spec.panels[0].values[0].length;
  if (rows === 0 || columns === 0) {
    throw new InvalidArgumentError(`the heatmap "${spec.title}" has empty panels`, { field: "panels[0].values" });
  }

  spec.panels.forEach((panel, index) => {
    const field = `panels[${index}].values`;
    if (panel.values.length !== rows || panel.values.some((row) => row.length !== columns)) {
      throw new InvalidArgumentError(`every panel of the heatmap "${spec.title}" must have ${rows} rows of ${columns} values`, { field });
    }
    for (const row of panel.values) {
      for (const value of row) {
        if (!(value >= 0 && value <= 1)) {
          throw new InvalidArgumentError(`heatmap values must be in [0, 1], got ${value} in panel ${index}`, { field });
        }
      }
    }
  });
  return { rows, columns };
}

function parseHexColor(color: string): [number, number, number] {
  const match = /^#([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})$/.exec(color);
  if (match === null) {
    throw new InvalidArgumentError(`heatmap color must be #rrggbb, got ${JSON.stringify(color)}`, { field: "color" });
  }
  return [parseInt(match[1], 16), parseInt(match[2], 16), parseInt(match[3], 16)];
}

/** Returns the color `value` of the way from white to `color`, as #rrggbb. */
function mixWithWhite(color: [number, number, number], value: number): string {
  return `#${color.map((channel) => Math.round(255 + (channel - 255) * value).toString(16).padStart(2, "0")).join("")}`;
}

/**
 * Returns an estimate of the rendered width of `text` in pixels: 0.6 em per character, 0.66 em in bold.
 * NOTE: an estimate for sans-serif fonts, not a measurement, so very wide glyphs may still overflow.
 */
function textWidth(text: string, fontSize: number, bold: boolean): number {
  return text.length * fontSize * (bold ? 0.66 : 0.6);
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
