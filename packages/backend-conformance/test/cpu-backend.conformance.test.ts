// The reference CPU backend against itself: every check must pass with differences of zero or close to
// it, which validates the suite's own bookkeeping on all shared models and variants.
import { createCpuBackend } from "@elitekv/runtime-cpu";

import { defineBackendConformanceSuite } from "../src/index.js";

defineBackendConformanceSuite({ name: "cpu", createBackend: () => createCpuBackend({ threads: 1 }) });
