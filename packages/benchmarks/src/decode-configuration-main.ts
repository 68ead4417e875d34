// Child process entry point: measures the decode configuration given as JSON in argv[2] and prints
// its DecodeConfigurationReport. Started by runDecodeConfigurationInChild.
import { runChildMain, stderrProgress } from "./child-entry.js";
import { measureDecodeConfiguration, type DecodeConfigurationReport, type DecodeConfigurationSpec } from "./decode-configuration.js";
import { benchConfigurationLabel } from "./bench-model.js";

await runChildMain<DecodeConfigurationSpec, DecodeConfigurationReport>((spec) =>
  measureDecodeConfiguration(spec, stderrProgress(`${spec.backend} ${benchConfigurationLabel(spec.configuration)}`)),
);
