// `pnpm results-page`: turns a sweep's report.json into the published results of one model and text,
// docs/results/<name>.md (tables and notes) and docs/results/<name>.json (the rows), next to the
// sweep folder docs/results/<name>/.
import { readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";

import { readSweepReport, renderResultsPage, resultsDocument, writeFileAtomic } from "@elitekv/sweep";

const usage =
  "usage: pnpm results-page --name <name> --title <title> [--notes <file.md>] [--dir docs/results]\n" +
  "reads <dir>/<name>/report.json and writes <dir>/<name>.md and <dir>/<name>.json\n";

const { values } = parseArgs({
  options: {
    name: { type: "string" },
    title: { type: "string" },
    notes: { type: "string" },
    dir: { type: "string", default: "docs/results" },
  },
});
if (values.name === undefined || values.title === undefined) {
  process.stderr.write(usage);
  process.exit(2);
}

const root = new URL("../..", import.meta.url).pathname;
const dir = resolve(root, values.dir);
try {
  const report = await readSweepReport(join(dir, values.name, "report.json"));
  const notes = values.notes === undefined ? undefined : readFileSync(values.notes, "utf8");

  const page = renderResultsPage(report, { title: values.title, reportFolder: values.name, rowsFile: `${values.name}.json`, notes });
  const written = [
    await writeFileAtomic(join(dir, `${values.name}.json`), `${JSON.stringify(resultsDocument(report), null, 2)}\n`),
    await writeFileAtomic(join(dir, `${values.name}.md`), page),
  ];
  process.stdout.write(`${written.map((path) => relative(root, path)).join("\n")}\n`);
} catch (error) {
  process.stderr.write(`results-page: ${(error as Error).message}\n`);
  process.exit(1);
}
