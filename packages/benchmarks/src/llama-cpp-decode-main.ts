// Child process entry point: measures llama.cpp decode with the LlamaCppDecodeSpec given as JSON in
// argv[2] and prints its LlamaCppDecodeReport. Started by runLlamaCppDecodeInChild.
import { runChildMain } from "./child-entry.js";
import { measureLlamaCppDecode, type LlamaCppDecodeReport, type LlamaCppDecodeSpec } from "./llama-cpp-decode.js";

await runChildMain<LlamaCppDecodeSpec, LlamaCppDecodeReport>(measureLlamaCppDecode);
