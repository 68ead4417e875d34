// The converted attention of one layer written in jax-js, so that automatic differentiation can run
// through it: einsum over per-head constant tensors. One-hot chunk selections pick each head's elite and
// nope dims, and RoPE of the elite dims is an elementwise product with cos/sin tables. A one-hot
// head-to-KV-head matrix shares w_k_rope, w_uk and w_uv within a group. jax-js arrays are reference
// counted and every operation consumes its operands, so an array used again is passed as `.ref`.
import { nn, numpy as np } from "@jax-js/jax";

import {
  eliteNopeDims,
  eliteRopeDims,
  ropeInverseFrequencies,
  type EliteLayerConfig,
  type ModelConfig,
} from "@elitekv/core";

import type { EliteAttentionParameters } from "./attention-gradient.js";
import { einsum, type JaxArray } from "./jax-device.js";

/** One layer's attention weights as jax-js arrays, in the stored [out, in] layouts. */
export type JaxAttentionParameters = { [K in keyof EliteAttentionParameters]: JaxArray };

/** Constant tensors of one layer for windows of `tokens` positions. */
export interface LayerConstants {
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

export function layerConstants(config: ModelConfig, layer: EliteLayerConfig, tokens: number): LayerConstants {
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
 * Computes the converted attention block output Ŷ [tokens, hidden] of the attention inputs `x`
 * [tokens, hidden] (the normalised residual rows) from position 0. Consumes `parameters` and `x`; the
 * host constants are uploaded inside the traced function, so jit keeps them as constants.
 */
export function jaxEliteAttention(
  config: ModelConfig,
  layer: EliteLayerConfig,
  host: LayerConstants,
  tokens: number,
  parameters: JaxAttentionParameters,
  x: JaxArray,
): JaxArray {
  const { numHeads, numKvHeads, headDim } = config;
  const r = layer.ropeChunks[0]?.length ?? 0;
  const ropeWidth = 2 * r;
  const nopeWidth = headDim - ropeWidth;
  const latentDim = layer.latentDim;
  const constant = (data: Float32Array, shape: number[]) => np.array(data, { shape });

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
  return einsum("tk,ok->to", values, parameters.output);
}

/** Returns the shape of each attention parameter of `layer`, [out, in] as stored. */
export function attentionParameterShapes(config: ModelConfig, layer: EliteLayerConfig): { [K in keyof EliteAttentionParameters]: number[] } {
  const { numHeads, numKvHeads, headDim, hiddenSize } = config;
  const ropeWidth = 2 * (layer.ropeChunks[0]?.length ?? 0);
  const nopeWidth = headDim - ropeWidth;
  return {
    query: [numHeads * headDim, hiddenSize],
    ropeKey: [numKvHeads * ropeWidth, hiddenSize],
    latentDown: [layer.latentDim, hiddenSize],
    keyUp: [numKvHeads * nopeWidth, layer.latentDim],
    valueUp: [numKvHeads * headDim, layer.latentDim],
    output: [hiddenSize, numHeads * headDim],
  };
}
