// The public backend conformance suite, run on the ONNX Runtime backend against the CPU reference.
import { defineBackendConformanceSuite } from "@elitekv/backend-conformance";

import { createOrtBackend } from "../src/index.js";

defineBackendConformanceSuite({
  name: "ort",
  createBackend: () => createOrtBackend({ threads: 2, chunkTokens: 16 }),
  // A prefill split in two sums the attention over the cached and the new positions in separate GEMMs,
  // which moves logits of magnitude 10 by about 1e-5 in float32.
  tolerances: { sameBackend: 5e-5 },
});
