// AttentionLossGradient on jax-js (@jax-js/jax 0.1.25, pinned), running on its WebAssembly device in
// Node. The converted attention is written with einsum over per-head constant tensors. One-hot chunk
// selections pick each head's elite and nope dims, and RoPE of the elite dims is an elementwise
// product with cos/sin tables. A one-hot head-to-KV-head matrix shares w_k_rope, w_uk and w_uv within
// a group. jax-js arrays are reference counted and every operation consumes its operands, so an array
// used again is passed as `.ref`.
import { defaultDevice, init, jit, numpy as np, nn, valueAndGrad } from "@jax-js/jax";

import {
  eliteNopeDims,
  eliteRopeDims,
  ropeInverseFrequencies,
  type EliteLayerConfig,
  type ModelConfig,
} from "@elitekv/core";

import {
  attentionParameterNames,
  type AttentionLossGradient,
  type AttentionWindow,
  type EliteAttentionParameters,
} from "./attention-gradient.js";

type JaxArray = np.Array;
type JaxParameters = { [K in keyof EliteAttentionParameters]: JaxArray };

let wasmReady: Promise<void> | undefined;

/**
 * Calls np.einsum with subscripts such as "td,od->to", translated to the sublist form. jax-js 0.1.25
 * parses string subscripts with Iterator helpers (String.matchAll(...).map), which Node 20 lacks.
 */
function einsum(subscripts: string, ...operands: JaxArray[]): JaxArray {
  const [inputs, output] = subscripts.split("->");
  const index = (letter: string) => letter.charCodeAt(0) - "a".charCodeAt(0);
  const args: Array<JaxArray | number[]> = [];
  inputs.split(",").forEach((labels, i) => args.push(operands[i], [...labels].map(index)));
  args.push([...output].map(index));
  return np.einsum(...args);
}

/** Starts the jax-js WebAssembly device once per process. */
function initWasm(): Promise<void> {
  wasmReady ??= init("wasm").then(() => {
    defaultDevice("wasm");
  });
  return wasmReady;
}

/** Constant tensors of one layer for windows of `tokens` positions. */
interface LayerConstants {
  /** [numHeads, headDim, 2r]: column m picks the head's m-th rope dim (eliteRopeDims order). */
  ropeSelection: Float32Array;
  /** [numHeads, headDim, headDim − 2r]: column n picks the head's n-th nope dim. */
  nopeSelection: Float32Array;
  /** [2r, 2r]: v · rotation swaps the halves with a sign, (a, b) → (−b, a). */
  rotation: Float32Array;
  /** cos and sin of position · θ_j for each head's rope dims: [tokens, numHeads, 2r]. */
  headCos: Float32Array;
  headSin: Float32Array;
  /** The same per KV head: [tokens, numKvHeads, 2r]. */
  groupCos: Float32Array;
  groupSin: Float32Array;
  /** [numHeads, numKvHeads], 1 where the head reads the KV head. */
  headGroups: Float32Array;
  /** [tokens, tokens]: 0 where s ≤ t, a large negative number after t. */
  causalMask: Float32Array;
}

// Added to masked scores before the softmax; exp() of it underflows to exactly 0 in float32.
const maskedScore = -1e9;

function layerConstants(config: ModelConfig, layer: EliteLayerConfig, tokens: number): LayerConstants {
  const { numHeads, numKvHeads, headDim } = config;
  const groupSize = numHeads / numKvHeads;
  const r = layer.ropeChunks[0]?.length ?? 0;
  const ropeWidth = 2 * r;
  const nopeWidth = headDim - ropeWidth;
  const frequencies = ropeInverseFrequencies(config.rope);

  const ropeSelection = new Float32Array(numHeads * headDim * ropeWidth);
  const nopeSelection = new Float32Array(numHeads * headDim * nopeWidth);
  const headCos = new Float32Array(tokens * numHeads * ropeWidth);
  const headSin = new Float32Array(tokens * numHeads * ropeWidth);
  const groupCos = new Float32Array(tokens * numKvHeads * ropeWidth);
  const groupSin = new Float32Array(tokens * numKvHeads * ropeWidth);
  const headGroups = new Float32Array(numHeads * numKvHeads);
  for (let head = 0; head < numHeads; head++) {
    const kvHead = Math.floor(head / groupSize);
    const chunks = layer.ropeChunks[kvHead];
    headGroups[head * numKvHeads + kvHead] = 1;
    eliteRopeDims(headDim, chunks).forEach((dim, m) => (ropeSelection[(head * headDim + dim) * ropeWidth + m] = 1));
    eliteNopeDims(headDim, chunks).forEach((dim, n) => (nopeSelection[(head * headDim + dim) * nopeWidth + n] = 1));
    for (let t = 0; t < tokens; t++) {
      for (let m = 0; m < ropeWidth; m++) {
        const angle = t * frequencies[chunks[m % r]];
        headCos[(t * numHeads + head) * ropeWidth + m] = Math.cos(angle);
        headSin[(t * numHeads + head) * ropeWidth + m] = Math.sin(angle);
        groupCos[(t * numKvHeads + kvHead) * ropeWidth + m] = Math.cos(angle);
        groupSin[(t * numKvHeads + kvHead) * ropeWidth + m] = Math.sin(angle);
      }
    }
  }

  const rotation = new Float32Array(ropeWidth * ropeWidth);
  for (let m = 0; m < r; m++) {
    rotation[(m + r) * ropeWidth + m] = -1;
    rotation[m * ropeWidth + m + r] = 1;
  }
  const causalMask = new Float32Array(tokens * tokens);
  for (let t = 0; t < tokens; t++) causalMask.fill(maskedScore, t * tokens + t + 1, (t + 1) * tokens);
  return { ropeSelection, nopeSelection, rotation, headCos, headSin, groupCos, groupSin, headGroups, causalMask };
}

/**
 * Creates the jax-js implementation for windows of exactly `tokens` positions of one converted layer.
 * NOTE: it computes in float32, so losses differ from the float64 least-squares path in the sixth digit.
 */
export async function createJaxAttentionGradient(config: ModelConfig, layer: EliteLayerConfig, tokens: number): Promise<AttentionLossGradient> {
  await initWasm();
  const { numHeads, numKvHeads, headDim, hiddenSize } = config;
  const r = layer.ropeChunks[0]?.length ?? 0;
  const ropeWidth = 2 * r;
  const nopeWidth = headDim - ropeWidth;
  const latentDim = layer.latentDim;
  const host = layerConstants(config, layer, tokens);
  const shapes: { [K in keyof EliteAttentionParameters]: number[] } = {
    query: [numHeads * headDim, hiddenSize],
    ropeKey: [numKvHeads * ropeWidth, hiddenSize],
    latentDown: [latentDim, hiddenSize],
    keyUp: [numKvHeads * nopeWidth, latentDim],
    valueUp: [numKvHeads * headDim, latentDim],
    output: [hiddenSize, numHeads * headDim],
  };
  const constant = (data: Float32Array, shape: number[]) => np.array(data, { shape });

  // Returns ‖Y − Ŷ‖² for one window; consumes every argument once.
  const blockError = (parameters: JaxParameters, x: JaxArray, y: JaxArray): JaxArray => {
    const ropeSelection = constant(host.ropeSelection, [numHeads, headDim, ropeWidth]);
    const nopeSelection = constant(host.nopeSelection, [numHeads, headDim, nopeWidth]);
    const rotation = constant(host.rotation, [ropeWidth, ropeWidth]);
    const headGroups = constant(host.headGroups, [numHeads, numKvHeads]);

    const query = np.reshape(einsum("td,od->to", x.ref, parameters.query), [tokens, numHeads, headDim]);
    const ropeQuery = einsum("thd,hdm->thm", query.ref, ropeSelection);
    const rotatedQuery = np.add(
      np.multiply(ropeQuery.ref, constant(host.headCos, [tokens, numHeads, ropeWidth])),
      np.multiply(einsum("thm,mn->thn", ropeQuery, rotation.ref), constant(host.headSin, [tokens, numHeads, ropeWidth])),
    );
    const nopeQuery = einsum("thd,hdn->thn", query, nopeSelection);
    const keyUp = einsum("hg,gnc->hnc", headGroups.ref, np.reshape(parameters.keyUp, [numKvHeads, nopeWidth, latentDim]));
    const latentQuery = einsum("thn,hnc->thc", nopeQuery, keyUp);

    const ropeKey = np.reshape(einsum("td,od->to", x.ref, parameters.ropeKey), [tokens, numKvHeads, ropeWidth]);
    const rotatedKey = np.add(
      np.multiply(ropeKey.ref, constant(host.groupCos, [tokens, numKvHeads, ropeWidth])),
      np.multiply(einsum("tgm,mn->tgn", ropeKey, rotation), constant(host.groupSin, [tokens, numKvHeads, ropeWidth])),
    );
    const latent = einsum("td,cd->tc", x, parameters.latentDown);

    const ropeScores = einsum("thm,hg,sgm->hts", rotatedQuery, headGroups.ref, rotatedKey);
    const latentScores = einsum("thc,sc->hts", latentQuery, latent.ref);
    const scores = np.add(np.multiply(np.add(ropeScores, latentScores), 1 / Math.sqrt(headDim)), constant(host.causalMask, [tokens, tokens]));
    const probabilities = nn.softmax(scores, -1);
    const attended = einsum("hts,sc->thc", probabilities, latent);

    const valueUp = einsum("hg,gdc->hdc", headGroups, np.reshape(parameters.valueUp, [numKvHeads, headDim, latentDim]));
    const values = np.reshape(einsum("thc,hdc->thd", attended, valueUp), [tokens, numHeads * headDim]);
    const predicted = einsum("tk,ok->to", values, parameters.output);
    return np.sum(np.square(np.subtract(y, predicted)));
  };

  const toJax = (parameters: EliteAttentionParameters): JaxParameters => {
    const entries = attentionParameterNames.map((name) => [name, constant(parameters[name], shapes[name])] as const);
    return Object.fromEntries(entries) as JaxParameters;
  };
  const windowArrays = (window: AttentionWindow) => ({
    x: constant(window.inputs, [tokens, hiddenSize]),
    y: constant(window.target, [tokens, hiddenSize]),
  });

  // Compiled once per layer. Without jit, every valueAndGrad call left about 0.3 MB on the JS heap
  // (jax-js 0.1.25, tinystories-656k, 128 tokens), and each call was slower.
  const errorAndGradient = jit(valueAndGrad(blockError, { argnums: 0 }));
  const error = jit(blockError);

  return {
    async lossAndGradient(parameters, window) {
      const { x, y } = windowArrays(window);
      const [value, gradient] = errorAndGradient(toJax(parameters), x, y);
      const loss = (await value.data())[0];
      const result = {} as EliteAttentionParameters;
      for (const name of attentionParameterNames) result[name] = Float32Array.from(await (gradient as JaxParameters)[name].data());
      return { loss, gradient: result };
    },

    async loss(parameters, window) {
      const { x, y } = windowArrays(window);
      const value = error(toJax(parameters), x, y);
      return (await value.data())[0];
    },
  };
}
