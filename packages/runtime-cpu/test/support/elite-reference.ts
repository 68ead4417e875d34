// A naive float64 forward of an EliteKV-converted model over a whole sequence: it rebuilds full keys
// (rotated elite dims, k_nope = W_uk c) and values (v = W_uv c) and runs standard attention, so it
// shares no absorption step with the backend. RoPE rotates only each KV head's elite chunks.
import { eliteNopeDims, eliteRopeDims, eliteWeightNames, ropeInverseFrequencies, weightNames, type LoadedModel } from "@elitekv/core";

import { project, rmsNormalize } from "./reference-forward.js";

/** Rotates the listed chunks (pairs j, j + headDim/2) of one head vector at `offset`, in place. */
function rotateChunks(vector: Float64Array, offset: number, headDim: number, chunks: readonly number[], position: number, frequencies: Float64Array): void {
  const half = headDim / 2;
  for (const j of chunks) {
    const angle = position * frequencies[j];
    const a = vector[offset + j];
    const b = vector[offset + j + half];
    vector[offset + j] = a * Math.cos(angle) - b * Math.sin(angle);
    vector[offset + j + half] = a * Math.sin(angle) + b * Math.cos(angle);
  }
}

export interface EliteReferenceResult {
  /** Per position, vocabSize logits. */
  logits: Float64Array[];
  /** Per layer, per position, the pre-rotation query [numHeads * headDim]. */
  queries: Float64Array[][];
  /** Per layer, per position, the rebuilt pre-rotation key [numKvHeads * headDim]. */
  keys: Float64Array[][];
  /** Per layer, per position, the RMSNorm output that feeds the attention projections [hiddenSize]. */
  attentionInputs: Float64Array[][];
}

/** Runs ids at positions 0 .. ids.length - 1 and returns every position's logits and captures. */
export function eliteReferenceForward(model: LoadedModel, ids: readonly number[]): EliteReferenceResult {
  const { config, weights } = model;
  const elite = model.elite!;
  const { hiddenSize: d, intermediateSize: f, numHeads, numKvHeads, headDim, vocabSize, rmsNormEps } = config;
  const weight = (name: string) => weights.get(name).data;
  const frequencies = ropeInverseFrequencies(config.rope);
  const groupSize = numHeads / numKvHeads;
  const r = elite.ropeChunksPerHead;
  const nopeWidth = headDim - 2 * r;

  let hidden = ids.map((id) => Float64Array.from(weight(weightNames.tokenEmbedding).subarray(id * d, (id + 1) * d)));
  const result: EliteReferenceResult = { logits: [], queries: [], keys: [], attentionInputs: [] };
  for (let layer = 0; layer < config.numLayers; layer++) {
    const { ropeChunks, latentDim } = elite.layers[layer];
    const normed = hidden.map((x) => rmsNormalize(x, weight(weightNames.attentionNorm(layer)), rmsNormEps));
    result.attentionInputs.push(normed);
    result.queries.push([]);
    result.keys.push([]);

    const queries = normed.map((x, position) => {
      const q = project(weight(weightNames.queryProjection(layer)), numHeads * headDim, d, x);
      result.queries[layer].push(Float64Array.from(q));
      for (let head = 0; head < numHeads; head++) {
        rotateChunks(q, head * headDim, headDim, ropeChunks[Math.floor(head / groupSize)], position, frequencies);
      }
      return q;
    });
    const keys: Float64Array[] = [];
    const values: Float64Array[] = [];
    normed.forEach((x, position) => {
      const ropeKeys = project(weight(eliteWeightNames.ropeKeyProjection(layer)), numKvHeads * 2 * r, d, x);
      const latent = project(weight(eliteWeightNames.latentDownProjection(layer)), latentDim, d, x);
      const nopeKeys = project(weight(eliteWeightNames.keyUpProjection(layer)), numKvHeads * nopeWidth, latentDim, latent);
      const key = new Float64Array(numKvHeads * headDim);
      for (let g = 0; g < numKvHeads; g++) {
        eliteRopeDims(headDim, ropeChunks[g]).forEach((dim, m) => (key[g * headDim + dim] = ropeKeys[g * 2 * r + m]));
        eliteNopeDims(headDim, ropeChunks[g]).forEach((dim, n) => (key[g * headDim + dim] = nopeKeys[g * nopeWidth + n]));
      }
      result.keys[layer].push(Float64Array.from(key));
      for (let g = 0; g < numKvHeads; g++) {
        rotateChunks(key, g * headDim, headDim, ropeChunks[g], position, frequencies);
      }
      keys.push(key);
      values.push(project(weight(eliteWeightNames.valueUpProjection(layer)), numKvHeads * headDim, latentDim, latent));
    });

    const attended = ids.map((_, position) => {
      const out = new Float64Array(numHeads * headDim);
      for (let head = 0; head < numHeads; head++) {
        const kvHead = Math.floor(head / groupSize);
        const scores: number[] = [];
        for (let source = 0; source <= position; source++) {
          let dot = 0;
          for (let i = 0; i < headDim; i++) dot += queries[position][head * headDim + i] * keys[source][kvHead * headDim + i];
          scores.push(dot / Math.sqrt(headDim));
        }
        const max = Math.max(...scores);
        const exps = scores.map((score) => Math.exp(score - max));
        const total = exps.reduce((a, b) => a + b, 0);
        for (let source = 0; source <= position; source++) {
          for (let i = 0; i < headDim; i++) out[head * headDim + i] += (exps[source] / total) * values[source][kvHead * headDim + i];
        }
      }
      return out;
    });

    hidden = hidden.map((x, position) => {
      const projected = project(weight(weightNames.outputProjection(layer)), d, numHeads * headDim, attended[position]);
      return x.map((value, i) => value + projected[i]);
    });

    hidden = hidden.map((x) => {
      const n = rmsNormalize(x, weight(weightNames.ffnNorm(layer)), rmsNormEps);
      const gate = project(weight(weightNames.gateProjection(layer)), f, d, n);
      const up = project(weight(weightNames.upProjection(layer)), f, d, n);
      const activated = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
      const down = project(weight(weightNames.downProjection(layer)), d, f, activated);
      return x.map((value, i) => value + down[i]);
    });
  }

  const head = weights.has(weightNames.outputHead) ? weight(weightNames.outputHead) : weight(weightNames.tokenEmbedding);
  result.logits = hidden.map((x) => project(head, vocabSize, d, rmsNormalize(x, weight(weightNames.finalNorm), rmsNormEps)));
  return result;
}
