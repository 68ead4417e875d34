// The jax-js loss and gradient of a converted layer of tinystories-656k against the float64 attention
// path of this package: the loss must agree, and the gradient must agree with central differences of
// the float64 loss.
import { buildRopeTable, createMatrix, MapWeightStore, referenceMatmul, type LoadedModel, type Matrix } from "@elitekv/core";
import { hasShared } from "@elitekv/vitest-config/shared";
import { beforeAll, describe, expect, it } from "vitest";

import {
  attentionParameterNames,
  baseAttentionOutput,
  baseAttentionWeights,
  createJaxAttentionGradient,
  eliteAttendedLatents,
  eliteAttentionOutput,
  eliteAttentionWeights,
  type EliteAttentionParameters,
} from "../src/index.js";
import { convertedModel, loadTinyStories } from "./fixtures.js";

const tokens = 32;
const layer = 1;

const weightName: Record<keyof EliteAttentionParameters, string> = {
  query: `layers.${layer}.wq`,
  ropeKey: `layers.${layer}.wk_rope`,
  latentDown: `layers.${layer}.w_dkv`,
  keyUp: `layers.${layer}.w_uk`,
  valueUp: `layers.${layer}.w_uv`,
  output: `layers.${layer}.wo`,
};

describe.skipIf(!hasShared)("jax-js attention gradient", () => {
  let base: LoadedModel;
  let model: LoadedModel;
  let x: Matrix;
  let target: Matrix;

  beforeAll(async () => {
    base = await loadTinyStories();
    model = await convertedModel(base, { ratio: 0.5 });
    x = createMatrix(tokens, base.config.hiddenSize);
    for (let i = 0; i < x.data.length; i++) x.data[i] = 0.05 * Math.sin(0.37 * i);
    target = await baseAttentionOutput(base.config, baseAttentionWeights(base.weights, layer), x, buildRopeTable(base.config, tokens), referenceMatmul);
  });

  /** ‖Y − Ŷ‖² by the float64 path, with `parameters` in place of the layer's weights. */
  async function float64Loss(parameters: EliteAttentionParameters): Promise<number> {
    const store = new MapWeightStore(new Map(model.weights.names().map((name) => [name, model.weights.get(name)])));
    for (const name of attentionParameterNames) store.set(weightName[name], { shape: model.weights.get(weightName[name]).shape, data: parameters[name] });
    const weights = eliteAttentionWeights(store, layer);
    const table = buildRopeTable(base.config, tokens);
    const attended = await eliteAttendedLatents(base.config, model.elite!.layers[layer], weights, x, table, referenceMatmul);
    const output = await eliteAttentionOutput(base.config, attended, weights.valueUp, weights.output, referenceMatmul);
    let error = 0;
    for (let i = 0; i < output.data.length; i++) error += (target.data[i] - output.data[i]) ** 2;
    return error;
  }

  function parameters(): EliteAttentionParameters {
    const entries = attentionParameterNames.map((name) => [name, Float32Array.from(model.weights.get(weightName[name]).data)] as const);
    return Object.fromEntries(entries) as unknown as EliteAttentionParameters;
  }

  it("loss matches the float64 path", async () => {
    const gradient = await createJaxAttentionGradient(base.config, model.elite!.layers[layer], tokens);
    const window = { inputs: Float32Array.from(x.data), target: Float32Array.from(target.data) };

    const expected = await float64Loss(parameters());
    const { loss } = await gradient.lossAndGradient(parameters(), window);

    expect(expected).toBeGreaterThan(1);
    expect(Math.abs(loss - expected)).toBeLessThan(1e-5 * expected);
    expect(Math.abs((await gradient.loss(parameters(), window)) - expected)).toBeLessThan(1e-5 * expected);
  });

  it("gradient matches central differences", async () => {
    const gradient = await createJaxAttentionGradient(base.config, model.elite!.layers[layer], tokens);
    const window = { inputs: Float32Array.from(x.data), target: Float32Array.from(target.data) };
    const { gradient: grads } = await gradient.lossAndGradient(parameters(), window);

    for (const name of attentionParameterNames) {
      for (const index of [7, 300]) {
        const plus = parameters();
        const minus = parameters();
        plus[name][index] += 1e-3;
        minus[name][index] -= 1e-3;
        const step = plus[name][index] - minus[name][index];
        const difference = ((await float64Loss(plus)) - (await float64Loss(minus))) / step;

        expect(Math.abs(grads[name][index] - difference), `${name}[${index}]`).toBeLessThan(1e-3 * Math.abs(difference) + 1e-6);
      }
    }
  });
});
