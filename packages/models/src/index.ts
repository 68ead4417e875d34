// Public API of @elitekv/models. Each area keeps its own barrel until the package's export list is
// settled.
export * from "./gguf/index.js";
export * from "./safetensors/index.js";
export * from "./huggingface/index.js";
export * from "./llama2c/index.js";
export * from "./fetch/index.js";
export * from "./corpus/index.js";
export * from "./load-model.js";
