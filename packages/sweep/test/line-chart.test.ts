// The line chart SVG: well-formed XML with a title and axis labels, one path per series, log-scale
// ticks at their decade positions, and escaped text.
import { InvalidArgumentError } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { renderLineChart, type LineChartSpec } from "../src/svg/line-chart.js";
import { elementsWithClass, findElements, parseXml, textContent, type XmlElement } from "./xml-document.js";

function pplChart(overrides: Partial<LineChartSpec> = {}): LineChartSpec {
  return {
    title: "Perplexity vs cache ratio",
    xLabel: "cache ratio",
    yLabel: "perplexity",
    yScale: "log",
    xTicks: [0.125, 0.25, 0.5],
    series: [
      { name: "ropelite, weight SVD", points: [{ x: 0.5, y: 3 }, { x: 0.25, y: 40 }, { x: 0.125, y: 470 }] },
      { name: "high-freq, weight SVD", points: [{ x: 0.5, y: 4 }, { x: 0.25, y: 60 }, { x: 0.125, y: 300 }] },
    ],
    referenceLines: [{ name: "base model", y: 3.5 }],
    ...overrides,
  };
}

function tickLabels(root: XmlElement, axis: "x" | "y"): string[] {
  return elementsWithClass(root, `tick-label-${axis}`).map(textContent);
}

describe("renderLineChart", () => {
  it("writes a well-formed SVG with title and axis labels", () => {
    const root = parseXml(renderLineChart(pplChart()));

    expect(root.name).toBe("svg");
    expect(root.attributes.xmlns).toBe("http://www.w3.org/2000/svg");
    const firstChild = root.children.find((child) => typeof child !== "string") as XmlElement;
    expect(firstChild.name).toBe("title");
    expect(textContent(firstChild)).toBe("Perplexity vs cache ratio");
    expect(elementsWithClass(root, "axis-label-x").map(textContent)).toEqual(["cache ratio"]);
    expect(elementsWithClass(root, "axis-label-y").map(textContent)).toEqual(["perplexity (log scale)"]);
  });

  it("draws one path per series", () => {
    const root = parseXml(renderLineChart(pplChart()));
    const paths = elementsWithClass(root, "series");

    expect(paths.map((path) => path.name)).toEqual(["path", "path"]);
    expect(paths.map((path) => path.attributes["data-series"])).toEqual(["ropelite, weight SVD", "high-freq, weight SVD"]);
    // Three points: one move and two line segments, in increasing x.
    expect(paths[0].attributes.d.split(" L")).toHaveLength(3);
    expect(paths[0].attributes.d.startsWith("M")).toBe(true);
  });

  it("puts log ticks at 1-2-5 values and equal decades apart", () => {
    const root = parseXml(renderLineChart(pplChart()));

    // Data from 3 to 470, padded by 5% of its 2.2 decades on each side: about 2.3 to 606.
    expect(tickLabels(root, "y")).toEqual(["5", "10", "20", "50", "100", "200", "500"]);
    const tickY = new Map(elementsWithClass(root, "tick-label-y").map((label) => [textContent(label), Number(label.attributes.y)]));
    const decade = tickY.get("5")! - tickY.get("50")!;
    expect(tickY.get("10")! - tickY.get("100")!).toBeCloseTo(decade, 1);
    expect(tickY.get("20")! - tickY.get("200")!).toBeCloseTo(decade, 1);
    expect(decade).toBeGreaterThan(0);
  });

  it("uses the given x ticks", () => {
    const root = parseXml(renderLineChart(pplChart()));
    expect(tickLabels(root, "x")).toEqual(["0.125", "0.25", "0.5"]);
  });

  it("draws the reference line with its label and legend entry", () => {
    const root = parseXml(renderLineChart(pplChart()));
    const reference = elementsWithClass(root, "reference");

    expect(reference).toHaveLength(1);
    expect(textContent(reference[0])).toBe("base model 3.5");
    const legend = elementsWithClass(root, "legend-entry").map(textContent);
    expect(legend).toEqual(["ropelite, weight SVD", "high-freq, weight SVD", "base model"]);
  });

  it("escapes markup characters in text", () => {
    const svg = renderLineChart(
      pplChart({ title: 'PPL <&> "quoted"', xLabel: "x <a>", series: [{ name: "s & t", points: [{ x: 0.5, y: 3 }] }] }),
    );

    expect(svg).toContain("PPL &lt;&amp;&gt; &quot;quoted&quot;");
    expect(svg).not.toContain("<a>");
    const root = parseXml(svg);
    expect(textContent(findElements(root, (element) => element.name === "title")[0])).toBe('PPL <&> "quoted"');
    expect(elementsWithClass(root, "axis-label-x").map(textContent)).toEqual(["x <a>"]);
    expect(elementsWithClass(root, "series")[0].attributes["data-series"]).toBe("s & t");
  });

  it("breaks a log-scale line at a non-positive point", () => {
    const root = parseXml(
      renderLineChart(pplChart({ series: [{ name: "kl", points: [{ x: 0.1, y: 1 }, { x: 0.2, y: 0 }, { x: 0.3, y: 2 }, { x: 0.4, y: 3 }] }] })),
    );
    const d = elementsWithClass(root, "series")[0].attributes.d;

    expect(d.split("M")).toHaveLength(3);
    expect(d.split("L")).toHaveLength(2);
  });

  it("labels a linear axis without the log note", () => {
    const root = parseXml(renderLineChart(pplChart({ yScale: "linear", referenceLines: [] })));
    expect(elementsWithClass(root, "axis-label-y").map(textContent)).toEqual(["perplexity"]);
  });

  it("rejects a chart without drawable points", () => {
    expect(() => renderLineChart(pplChart({ series: [{ name: "empty", points: [{ x: 0.5, y: 0 }] }] }))).toThrow(InvalidArgumentError);
  });
});
