// `pnpm bench`: runs every `packages/*/bench/*.bench.ts` script in its own Node process and prints one
// JSON document { machine, benchmarks: { <file>: <its JSON output> } } on stdout. Each bench script
// prints a single JSON value on stdout and progress, if any, on stderr.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join, relative } from "node:path";

const root = new URL("../..", import.meta.url).pathname;
const filter = process.argv[2];

const benchFiles: string[] = [];
for (const group of ["packages", "apps"]) {
  const groupDir = join(root, group);
  if (!existsSync(groupDir)) continue;
  for (const name of readdirSync(groupDir)) {
    const benchDir = join(groupDir, name, "bench");
    if (!existsSync(benchDir)) continue;
    for (const file of readdirSync(benchDir)) {
      if (file.endsWith(".bench.ts") && (filter === undefined || file.includes(filter))) {
        benchFiles.push(join(benchDir, file));
      }
    }
  }
}

const results: Record<string, unknown> = {};
let failures = 0;
for (const file of benchFiles.sort()) {
  const name = relative(root, file);
  process.stderr.write(`bench: ${name}\n`);
  const run = spawnSync(process.execPath, ["--conditions=elitekv-source", "--import", "tsx", file], {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.status !== 0) {
    failures++;
    results[name] = { error: `exited with status ${run.status}` };
    continue;
  }
  try {
    results[name] = JSON.parse(run.stdout);
  } catch {
    failures++;
    results[name] = { error: "output is not JSON", output: run.stdout.slice(0, 2000) };
  }
}

const machine = { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, memoryBytes: totalmem(), node: process.version };
process.stdout.write(`${JSON.stringify({ machine, benchmarks: results }, null, 2)}\n`);
process.exit(failures === 0 ? 0 : 1);
