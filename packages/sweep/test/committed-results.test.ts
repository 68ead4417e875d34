// The published results under docs/results/: every sweep folder's report.json passes the validator, and
// the rows JSON beside it is exactly what resultsDocument derives from that report.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { repositoryRoot } from "@elitekv/vitest-config/shared";
import { describe, expect, it } from "vitest";

import { resultsDocument } from "../src/results-page.js";
import { readSweepReport } from "../src/sweep-report-validation.js";

const resultsDir = join(repositoryRoot, "docs", "results");
const sweeps = readdirSync(resultsDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(resultsDir, entry.name, "report.json")))
  .map((entry) => entry.name)
  .sort();

describe("committed sweep results", () => {
  it("include at least one sweep", () => {
    expect(sweeps.length).toBeGreaterThan(0);
  });

  it.each(sweeps)("%s has a valid report and matching rows", async (name) => {
    const report = await readSweepReport(join(resultsDir, name, "report.json"));
    const rowsFile = join(resultsDir, `${name}.json`);
    expect(existsSync(rowsFile), `${name}.json`).toBe(true);

    const published = JSON.parse(readFileSync(rowsFile, "utf8")) as { rows: unknown[] };
    expect(published.rows).toEqual(resultsDocument(report).rows);
    for (const plot of report.files.plots) expect(existsSync(join(resultsDir, name, plot)), plot).toBe(true);
    for (const ranking of report.files.rankings) expect(existsSync(join(resultsDir, name, ranking)), ranking).toBe(true);
  });
});
