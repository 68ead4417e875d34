// The tsup bundle must leave vitest and the workspace packages as imports: a bundled copy of vitest
// would register tests with a runner that the consumer's vitest never runs.
import { readFile, rm } from "node:fs/promises";
import { builtinModules } from "node:module";
import { fileURLToPath } from "node:url";

import { build } from "tsup";
import { afterAll, describe, expect, it } from "vitest";

const packageFolder = fileURLToPath(new URL("..", import.meta.url));
// The ".elitekv-tmp-" prefix is ignored by git.
const buildFolder = `${packageFolder}.elitekv-tmp-build-${process.pid}`;

describe("build output", () => {
  afterAll(() => rm(buildFolder, { recursive: true, force: true }));

  it("keeps vitest and workspace packages external", async () => {
    await build({ entry: ["src/index.ts"], format: ["esm"], target: "node20", outDir: buildFolder, dts: false, silent: true, config: false });
    const bundle = await readFile(`${buildFolder}/index.js`, "utf8");

    const specifiers = new Set([...bundle.matchAll(/^import\s+(?:[^"']*?\s+from\s+)?["']([^"']+)["']/gm)].map((match) => match[1]));
    const builtins = new Set(builtinModules);
    const packages = [...specifiers].filter((specifier) => !builtins.has(specifier.replace(/^node:/, ""))).sort();

    expect(packages).toEqual(["@elitekv/converter", "@elitekv/core", "@elitekv/models", "@elitekv/runtime-cpu", "vitest"]);
    expect(bundle).toContain("defineBackendConformanceSuite");
  });
});
