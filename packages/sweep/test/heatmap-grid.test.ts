// The small-multiple heatmap SVG: well-formed, one cell per value with the color of its value, one
// title and pair of axis labels per panel, and rejected input shapes.
import { InvalidArgumentError } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { renderHeatmapGrid, type HeatmapGridSpec } from "../src/svg/heatmap-grid.js";
import { elementsWithClass, parseXml, textContent } from "./xml-document.js";

function spec(overrides: Partial<HeatmapGridSpec> = {}): HeatmapGridSpec {
  return {
    title: "Elite chunks <layer 0>",
    xLabel: "chunk index",
    yLabel: "KV head",
    color: "#204080",
    panels: [
      { title: "r = 2", values: [[1, 1, 0, 0], [0, 1, 0, 1]], cellTitles: [["a", "b", "c", "d"], ["e", "f", "g", "h & i"]] },
      { title: "r = 1", values: [[1, 0, 0, 0], [0, 0, 0, 0.5]] },
    ],
    legend: { low: "dropped", high: "elite" },
    ...overrides,
  };
}

describe("renderHeatmapGrid", () => {
  it("writes a well-formed SVG with title and axis labels per panel", () => {
    const root = parseXml(renderHeatmapGrid(spec()));

    expect(root.name).toBe("svg");
    expect(root.children.some((child) => typeof child !== "string" && child.name === "title" && textContent(child) === "Elite chunks <layer 0>")).toBe(true);
    expect(elementsWithClass(root, "panel-title").map(textContent)).toEqual(["r = 2", "r = 1"]);
    expect(elementsWithClass(root, "axis-label-x").map(textContent)).toEqual(["chunk index", "chunk index"]);
    expect(elementsWithClass(root, "axis-label-y").map(textContent)).toEqual(["KV head", "KV head"]);
    expect(elementsWithClass(root, "tick-label-x").map(textContent)).toEqual(["0", "1", "2", "3", "0", "1", "2", "3"]);
  });

  it("colors each cell by its value", () => {
    const root = parseXml(renderHeatmapGrid(spec()));
    const cells = elementsWithClass(root, "cell");

    expect(cells).toHaveLength(2 * 2 * 4);
    const fill = (panel: number, row: number, column: number) => cells[panel * 8 + row * 4 + column].attributes.fill;
    expect(fill(0, 0, 0)).toBe("#204080");
    expect(fill(0, 0, 2)).toBe("#ffffff");
    // Halfway from white (255) to 0x20, 0x40 and 0x80: round(255 - (255 - c) / 2).
    expect(fill(1, 1, 3)).toBe("#90a0c0");
    expect(cells[7].attributes["data-row"]).toBe("1");
    expect(cells[7].attributes["data-column"]).toBe("3");
    expect(textContent(cells[7])).toBe("h & i");
  });

  it("rejects panels of different shapes", () => {
    const panels = [{ title: "a", values: [[1, 0]] }, { title: "b", values: [[1, 0, 0]] }];
    expect(() => renderHeatmapGrid(spec({ panels }))).toThrow(InvalidArgumentError);
  });

  it("rejects values outside [0, 1]", () => {
    expect(() => renderHeatmapGrid(spec({ panels: [{ title: "a", values: [[1.5]] }] }))).toThrow(InvalidArgumentError);
    expect(() => renderHeatmapGrid(spec({ panels: [{ title: "a", values: [[Number.NaN]] }] }))).toThrow(InvalidArgumentError);
  });

  it("rejects a grid without panels", () => {
    expect(() => renderHeatmapGrid(spec({ panels: [] }))).toThrow(InvalidArgumentError);
  });
});
