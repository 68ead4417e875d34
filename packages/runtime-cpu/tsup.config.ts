import { defineConfig } from "tsup";

export default defineConfig({
  // The worker is its own entry: the backend starts it from dist/compute-worker.js beside the bundle.
  entry: ["src/index.ts", "src/compute-worker.ts"],
  format: ["esm"],
  dts: true,
  target: "node20",
  clean: true,
  sourcemap: true,
});
