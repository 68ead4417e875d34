// Starts a compute worker from wherever this package runs: the tsup build (dist/compute-worker.js
// beside this module's bundle) or the TypeScript sources (src/compute-worker.ts, under vitest or
// `node --import tsx`), where the worker needs tsx's ESM hooks registered before it imports the entry.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker, type WorkerOptions } from "node:worker_threads";

import { BackendFailureError } from "@elitekv/core";

const runsFromSources = import.meta.url.endsWith(".ts");

/** URL of the worker entry. tsup builds src/compute-worker.ts into dist/compute-worker.js. */
export const computeWorkerUrl = new URL(runsFromSources ? "./compute-worker.ts" : "./compute-worker.js", import.meta.url);

// A .ts worker entry fails with "Unknown file extension .ts" on Node 20.20 with tsx 4.23, both with
// `execArgv: ["--import", "tsx"]` and when the parent runs under tsx. So a CommonJS bootstrap
// registers tsx's hooks through its API and then imports the entry.
const sourceBootstrap = `
const { workerData } = require("node:worker_threads");
import(workerData.tsxApiUrl).then((api) => {
  api.register();
  return import(workerData.entryUrl);
});
`;

let tsxApiUrl: string | undefined;

/** Returns the file URL of tsx's ESM register API, resolved from this package. */
function resolveTsxApiUrl(): string {
  if (tsxApiUrl !== undefined) return tsxApiUrl;

  // require.resolve("tsx/esm/api") picks the CommonJS build, which cannot register ESM hooks, so the
  // ESM path comes from tsx's export map instead.
  let manifestPath: string;
  try {
    manifestPath = createRequire(import.meta.url).resolve("tsx/package.json");
  } catch (error) {
    throw new BackendFailureError(
      "running the CPU backend from TypeScript sources needs the tsx package to start worker threads; " +
        "install tsx, use the built package, or create the backend with threads: 1",
      { field: "threads", cause: error },
    );
  }
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as {
    exports?: Record<string, { import?: { default?: string } } | string>;
  };
  const entry = manifest.exports?.["./esm/api"];
  const relativePath = typeof entry === "object" ? entry.import?.default : undefined;
  if (relativePath === undefined) {
    throw new BackendFailureError(`${manifestPath}: tsx has no "./esm/api" ESM export; install tsx 4.x`, {
      file: manifestPath,
      field: "exports",
    });
  }
  tsxApiUrl = pathToFileURL(join(dirname(manifestPath), relativePath)).href;
  return tsxApiUrl;
}

/** Creates a compute worker with `workerData`; objects in `transferList` move to the worker. */
export function launchComputeWorker(workerData: unknown, transferList: WorkerOptions["transferList"]): Worker {
  if (!runsFromSources) return new Worker(computeWorkerUrl, { workerData, transferList });

  return new Worker(sourceBootstrap, {
    eval: true,
    workerData: { ...(workerData as object), tsxApiUrl: resolveTsxApiUrl(), entryUrl: computeWorkerUrl.href },
    transferList,
  });
}
