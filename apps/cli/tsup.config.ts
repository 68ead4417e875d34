import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/main.ts"],
  format: ["esm"],
  dts: false,
  target: "node20",
  clean: true,
  sourcemap: true,
  banner: { js: "#!/usr/bin/env node" },
});
