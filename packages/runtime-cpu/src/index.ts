// Public API of @elitekv/runtime-cpu: the reference CPU backend, the correctness oracle of the project.
export { createCpuBackend, defaultThreadCount, type CpuBackendOptions } from "./cpu-backend.js";
export { matmulRowRange } from "./matmul-kernel.js";
