// Shared vitest settings for every workspace package: resolve workspace imports to their TypeScript
// sources, so tests never need a build first. Plain JavaScript because vitest loads config files with
// Node, which cannot import TypeScript from a linked workspace package.
import { defineConfig } from "vitest/config";

export function elitekvVitestConfig() {
  return defineConfig({
    resolve: {
      conditions: ["elitekv-source"],
    },
    ssr: {
      resolve: {
        conditions: ["elitekv-source"],
      },
    },
    test: {
      pool: "forks",
      testTimeout: 120_000,
      hookTimeout: 120_000,
      include: ["test/**/*.test.ts"],
      // The JSON report feeds the repository-wide "N passed, N failed" line printed by `pnpm test`.
      reporters: ["default", ["json", { outputFile: "test-results.json" }]],
    },
  });
}
