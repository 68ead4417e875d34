// The jax-js device that recovery computes on (@jax-js/jax 0.1.25, pinned): its WebAssembly device in
// Node, started once per process, and an einsum that takes string subscripts on Node 20.
import { defaultDevice, init, numpy as np } from "@jax-js/jax";

export type JaxArray = np.Array;

let wasmReady: Promise<void> | undefined;

/** Starts the jax-js WebAssembly device once per process and makes it the default device. */
export function initWasm(): Promise<void> {
  wasmReady ??= init("wasm").then(() => {
    defaultDevice("wasm");
  });
  return wasmReady;
}

/**
 * Calls np.einsum with subscripts such as "td,od->to", translated to the sublist form. jax-js 0.1.25
 * parses string subscripts with Iterator helpers (String.matchAll(...).map), which Node 20 lacks.
 */
export function einsum(subscripts: string, ...operands: JaxArray[]): JaxArray {
  const [inputs, output] = subscripts.split("->");
  const index = (letter: string) => letter.charCodeAt(0) - "a".charCodeAt(0);
  const args: Array<JaxArray | number[]> = [];
  inputs.split(",").forEach((labels, i) => args.push(operands[i], [...labels].map(index)));
  args.push([...output].map(index));
  return np.einsum(...args);
}
