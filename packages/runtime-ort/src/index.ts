// Public API of @elitekv/runtime-ort: the ONNX Runtime backend for base and EliteKV models.
export { createOrtBackend, type OrtBackendOptions } from "./ort-backend.js";
export { weightDtypes, type WeightDtype } from "./graph/graph-ops.js";
export { createOrtMatmul, type OrtMatmul, type OrtMatmulOptions } from "./ort-matmul.js";
