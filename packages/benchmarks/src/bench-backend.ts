// Backends by name for the benchmarks. The ONNX Runtime backend is imported only when asked for, so
// the benchmarks typecheck and run on "cpu" whether or not @elitekv/runtime-ort exports its backend.
import { BackendFailureError, InvalidArgumentError, type Backend } from "@elitekv/core";
import { createCpuBackend } from "@elitekv/runtime-cpu";

export const benchBackendNames = ["cpu", "ort"] as const;
export type BenchBackendName = (typeof benchBackendNames)[number];

/** Weight storage types a benchmark backend can be asked for. */
export type BenchWeightDtype = "f32" | "f16" | "q8" | "q4";

/**
 * Bytes the ORT backend reads per linear weight element for each storage: f16 weights are folded to
 * float32 when the session loads, so they read 4 bytes; q8 reads one code plus a float scale per block
 * of 32; q4 half a byte plus a float scale and half a byte of zero point per block of 32.
 */
export function benchWeightBytesPerElement(dtype: BenchWeightDtype): number {
  switch (dtype) {
    case "f32":
    case "f16":
      return 4;
    case "q8":
      return 1 + 4 / 32;
    case "q4":
      return 0.5 + 4.5 / 32;
  }
}

export interface BenchBackendOptions {
  /** Threads the backend computes on, or its own default when omitted. */
  threads?: number;
  /** Storage type of the weights in the backend. Defaults to "f32", the only type the CPU backend has. */
  weightDtype?: BenchWeightDtype;
}

/** The export of @elitekv/runtime-ort the benchmarks use. */
type OrtBackendFactory = (options?: { threads?: number; weightDtype?: BenchWeightDtype }) => Backend;

// A variable specifier keeps TypeScript from resolving the module's current exports at compile time.
const ortModuleName = "@elitekv/runtime-ort";

/** Returns true when `name` is one of benchBackendNames. */
export function isBenchBackendName(name: string): name is BenchBackendName {
  return (benchBackendNames as readonly string[]).includes(name);
}

/**
 * Creates the backend `name`. Throws InvalidArgumentError for an unknown name or f16 weights on the
 * CPU backend, and BackendFailureError when @elitekv/runtime-ort cannot be imported or does not export
 * createOrtBackend.
 */
export async function createBenchBackend(name: string, options: BenchBackendOptions = {}): Promise<Backend> {
  if (!isBenchBackendName(name)) {
    throw new InvalidArgumentError(`unknown backend ${JSON.stringify(name)}; use one of ${benchBackendNames.join(", ")}`, {
      field: "backend",
    });
  }
  const weightDtype = options.weightDtype ?? "f32";
  if (name === "cpu") {
    if (weightDtype !== "f32") {
      throw new InvalidArgumentError(`the CPU backend stores weights as f32 only, got ${weightDtype}; unset ELITEKV_BENCH_WEIGHT_DTYPE`, {
        field: "weightDtype",
      });
    }
    return createCpuBackend({ threads: options.threads });
  }

  let module: { createOrtBackend?: unknown };
  try {
    module = (await import(ortModuleName)) as { createOrtBackend?: unknown };
  } catch (error) {
    throw new BackendFailureError(`could not import ${ortModuleName}: ${(error as Error).message}`, { cause: error });
  }
  if (typeof module.createOrtBackend !== "function") {
    throw new BackendFailureError(`${ortModuleName} does not export createOrtBackend yet; run the benchmark with ELITEKV_BENCH_BACKEND=cpu`);
  }
  return (module.createOrtBackend as OrtBackendFactory)({ threads: options.threads, weightDtype });
}
