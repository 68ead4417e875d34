import { MapWeightStore, type Tensor } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { countParameters } from "../src/model/model-summary.js";

const tensor = (...shape: number[]): Tensor => ({
  shape,
  data: new Float32Array(shape.reduce((product, dim) => product * dim, 1)),
});

describe("countParameters", () => {
  it("sums the elements of every weight", () => {
    const store = new MapWeightStore(
      new Map([
        ["token_embedding", tensor(10, 4)],
        ["output_head", tensor(10, 4)],
        ["final_norm", tensor(4)],
      ]),
    );
    expect(countParameters(store)).toBe(84);
  });

  it("counts a tied head once", () => {
    const embedding = tensor(10, 4);
    const store = new MapWeightStore(
      new Map([
        ["token_embedding", embedding],
        ["output_head", { shape: [10, 4], data: embedding.data }],
        ["final_norm", tensor(4)],
      ]),
    );
    expect(countParameters(store)).toBe(44);
  });
});
