// Public API of @elitekv/models. Each area's barrel contains the explicit export list of that area.
export * from "./gguf/index.js";
export * from "./safetensors/index.js";
export * from "./huggingface/index.js";
export * from "./llama2c/index.js";
export * from "./fetch/index.js";
export * from "./corpus/index.js";
export * from "./elitekv/index.js";
export { detectModelFormat, loadModel, type DetectedModelFormat, type LoadModelOptions } from "./load-model.js";
