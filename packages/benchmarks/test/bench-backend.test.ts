import { InvalidArgumentError } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { benchWeightBytesPerElement, createBenchBackend, isBenchBackendName } from "../src/index.js";

describe("createBenchBackend", () => {
  it("creates the CPU backend", async () => {
    const backend = await createBenchBackend("cpu", { threads: 1 });
    expect(backend.name).toBe("cpu");
    await backend.dispose();
  });

  it("counts the bytes of each weight storage", () => {
    // f16 weights are folded to float32 by ORT, so they read as many bytes as f32.
    expect(benchWeightBytesPerElement("f32")).toBe(4);
    expect(benchWeightBytesPerElement("f16")).toBe(4);
    expect(benchWeightBytesPerElement("q8")).toBe(1.125);
    expect(benchWeightBytesPerElement("q4")).toBe(0.640625);
  });

  it("rejects f16 weights on the CPU backend", async () => {
    await expect(createBenchBackend("cpu", { weightDtype: "f16" })).rejects.toThrow(/f32 only/);
  });

  it("rejects an unknown name", async () => {
    await expect(createBenchBackend("gpu")).rejects.toThrow(InvalidArgumentError);
    expect(isBenchBackendName("gpu")).toBe(false);
    expect(isBenchBackendName("ort")).toBe(true);
  });
});
