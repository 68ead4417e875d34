// The results page and JSON of a sweep: best and every cell per ratio, RoPElite's comparison against
// the other strategies, and rows with exactly the published fields.
import { describe, expect, it } from "vitest";

import { renderResultsPage, resultsDocument, ropeliteComparisons, svdComparisons } from "../src/results-page.js";
import type { SweepReport, SweepReportRow } from "../src/sweep-report.js";
import { validReport } from "./report-fixture.js";

const options = { title: "Compression quality of stories260K", reportFolder: "stories260K", rowsFile: "stories260K.json" };

/** Returns the fixture with one more row: a copy of row `index` with `changes` and perplexity `ppl`. */
function reportWithRow(index: number, changes: Partial<SweepReportRow>, ppl: number): SweepReport {
  const report = validReport();
  report.rows.push({ ...report.rows[index], ...changes, ppl, pplIncreasePct: 100 * (ppl / report.base.ppl - 1) });
  return report;
}

/** The fixture with one more ratio-0.25 cell: high-freq with the activation SVD at `ppl`. */
function reportWithHighFreq(ppl: number): SweepReport {
  return reportWithRow(3, { strategy: "high-freq" }, ppl);
}

describe("resultsDocument", () => {
  it("keeps the published fields only", () => {
    const document = resultsDocument(validReport());
    expect(Object.keys(document.rows[0]).sort()).toEqual(
      ["ratio", "strategy", "svd", "ropeChunks", "latentDim", "ppl", "pplIncreasePct", "klDivergence", "top1Agreement"].sort(),
    );
    expect(document.rows.map((row) => row.ppl)).toEqual([5.1, 5.3, 5.0, 7.5]);
    expect(document.command).toBe("elitekv sweep --model stories260K.bin");
    expect(Object.keys(document)).toEqual(["model", "command", "calibration", "evaluation", "base", "rows"]);
    expect(document.evaluation.scoredTokens).toBe(7 * 127);
  });
});

describe("ropeliteComparisons", () => {
  it("compares within each ratio and SVD", () => {
    // Ratio 0.5 weight: ropelite 5.0 against high-freq 5.3. The other pairs have a single strategy.
    const comparisons = ropeliteComparisons(validReport());
    expect(comparisons).toHaveLength(1);
    expect(comparisons[0]).toMatchObject({ ratio: 0.5, svd: "weight", beatenBy: [] });
    expect(comparisons[0].best.strategy).toBe("ropelite");
  });

  it("lists the strategies below RoPElite", () => {
    const comparisons = ropeliteComparisons(reportWithHighFreq(7.0));
    const quarter = comparisons.find((comparison) => comparison.ratio === 0.25)!;
    expect(quarter.beatenBy.map((row) => row.strategy)).toEqual(["high-freq"]);
    expect(quarter.best.ppl).toBe(7.0);
  });
});

/** The fixture with one more ratio-0.5 cell: RoPElite with the activation SVD at `ppl`. */
function reportWithRopeliteActivation(ppl: number): SweepReport {
  return reportWithRow(2, { svd: "activation" }, ppl);
}

describe("svdComparisons", () => {
  it("pairs RoPElite cells of both SVD modes", () => {
    expect(svdComparisons(validReport())).toEqual([]);
    const comparisons = svdComparisons(reportWithRopeliteActivation(4.8));
    expect(comparisons).toHaveLength(1);
    expect(comparisons[0].ratio).toBe(0.5);
    expect(comparisons[0].activation.ppl).toBe(4.8);
    expect(comparisons[0].weight.ppl).toBe(5.0);
  });
});

describe("renderResultsPage", () => {
  it("states the SVD factor both ways", () => {
    // Base exp(1.5) = 4.4817: 4.8 is +7.1%, 5.0 is +11.6% (1.63× smaller), 5.5 is +22.7% (1.96× larger).
    expect(renderResultsPage(reportWithRopeliteActivation(4.8), options)).toContain("- ratio 0.5: +7.1% against +11.6% (1.63× smaller)");
    expect(renderResultsPage(reportWithRopeliteActivation(5.5), options)).toContain("- ratio 0.5: +22.7% against +11.6% (1.96× larger)");
    expect(renderResultsPage(validReport(), options)).not.toContain("activation-aware against weight SVD");
  });

  it("bolds the lowest PPL of each ratio", () => {
    const lines = renderResultsPage(validReport(), options).split("\n");
    const every = lines.slice(lines.findIndex((line) => line.startsWith("Every cell")));
    const table = every.filter((line) => line.startsWith("| 0."));

    expect(table).toEqual([
      "| 0.5 | ropelite | weight | 1 | 24 | **5.00** | +11.6% | 0.050 | 90.0% |",
      "| 0.5 | high-freq | activation | 1 | 24 | 5.10 | +13.8% | 0.050 | 90.0% |",
      "| 0.5 | high-freq | weight | 1 | 24 | 5.30 | +18.3% | 0.050 | 90.0% |",
      "| 0.25 | ropelite | activation | 1 | 8 | **7.50** | +67.3% | 0.050 | 90.0% |",
    ]);
  });

  it("lists the best cell per ratio", () => {
    const lines = renderResultsPage(validReport(), options).split("\n");
    const best = lines.slice(lines.indexOf("Best cell per ratio:"), lines.findIndex((line) => line.startsWith("Every cell")));
    expect(best.filter((line) => line.startsWith("| 0."))).toEqual([
      "| 0.5 | ropelite | weight | 1 | 24 | 5.00 | +11.6% | 0.050 | 90.0% |",
      "| 0.25 | ropelite | activation | 1 | 8 | 7.50 | +67.3% | 0.050 | 90.0% |",
    ]);
  });

  it("states where RoPElite is not lowest", () => {
    const markdown = renderResultsPage(reportWithHighFreq(7.0), options);
    expect(markdown).toContain("RoPElite has the lowest perplexity in 1 of 2 (ratio, SVD) pairs.");
    expect(markdown).toContain("At ratio 0.25 with the activation SVD it has 7.50, above high-freq 7.00.");
  });

  it("places notes, links and command", () => {
    const markdown = renderResultsPage(validReport(), { ...options, notes: "## Extra\n\nMore text." });
    expect(markdown).toContain("## Extra\n\nMore text.\n");
    expect(markdown).toContain("[stories260K/report.md](stories260K/report.md)");
    expect(markdown).toContain("[stories260K.json](stories260K.json)");
    expect(markdown).toContain("```sh\nelitekv sweep --model stories260K.bin\n```");
    expect(markdown.indexOf("## Extra")).toBeLessThan(markdown.indexOf("Command ("));
  });

  it("states the base and the texts", () => {
    const markdown = renderResultsPage(validReport(), options);
    expect(markdown).toContain("Base perplexity 4.4817 on file eval.txt (889 scored tokens, 7 windows of 128).");
    expect(markdown).toContain("Calibration: file calib.txt. No recovery training.");
  });
});
