// report.md: the table row of each report row in report order, the base perplexity, the fenced command
// line and the plot links, with markdown characters in labels escaped.
import { describe, expect, it } from "vitest";

import { renderSweepMarkdown } from "../src/sweep-markdown.js";
import { validReport } from "./report-fixture.js";

const plots = [
  { file: "ppl-vs-ratio.svg", title: "Perplexity vs KV cache ratio" },
  { file: "elite-chunks-layer-0.svg", title: "Elite RoPE chunks of layer 0" },
];

describe("renderSweepMarkdown", () => {
  it("writes one table line per row in report order", () => {
    const report = validReport();
    const lines = renderSweepMarkdown(report, plots).split("\n");
    const tableLines = lines.filter((line) => line.startsWith("| ") && !line.startsWith("| ratio"));

    expect(tableLines).toHaveLength(report.rows.length);
    // Row 2: ratio 0.5, ropelite, weight SVD, r = 1, d_c = 24, ppl 5.0 against exp(1.5) = 4.4817.
    expect(tableLines[2]).toBe("| 0.5 | 0.5000 | ropelite | weight | 1 | 24 | 5.0000 | +11.57% | 5.000e-2 | 90.00% |");
    expect(tableLines[3].startsWith("| 0.25 | 0.2500 | ropelite | activation | 1 | 8 | 7.5000 | +67.35% |")).toBe(true);
  });

  it("states the base perplexity and the texts", () => {
    const markdown = renderSweepMarkdown(validReport(), plots);
    expect(markdown).toContain("Base model perplexity: **4.4817**");
    expect(markdown).toContain("file calib.txt: 512 tokens after skipping 400000 characters");
    expect(markdown).toContain("889 scored tokens in 7 windows of 128 tokens");
  });

  it("fences the command longer than its backtick runs", () => {
    const report = { ...validReport(), command: "elitekv sweep --eval 'a ``` b'" };
    const markdown = renderSweepMarkdown(report, plots);
    expect(markdown).toContain("````\nelitekv sweep --eval 'a ``` b'\n````");
  });

  it("links every plot and ranking", () => {
    const markdown = renderSweepMarkdown(validReport(), plots);
    expect(markdown).toContain("- [Perplexity vs KV cache ratio](ppl-vs-ratio.svg)");
    expect(markdown).toContain("- [Elite RoPE chunks of layer 0](elite-chunks-layer-0.svg)");
    expect(markdown).toContain("- [ranking-ropelite.json](ranking-ropelite.json)");
  });

  it("escapes table and markup characters in labels", () => {
    const report = validReport();
    report.evaluation.text = "file a|b_c.txt";
    const markdown = renderSweepMarkdown(report, plots);
    expect(markdown).toContain("file a\\|b\\_c.txt");
  });
});
