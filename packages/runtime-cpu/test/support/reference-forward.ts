// A naive float64 LLaMA forward over a whole sequence, written independently of the backend: no cache,
// no blocking, no threads. It shares only ropeInverseFrequencies, which core tests, with the backend.
import { ropeInverseFrequencies, weightNames, type LoadedModel } from "@elitekv/core";

export interface ReferenceResult {
  /** Per position, vocabSize logits. */
  logits: Float64Array[];
  /** Per layer, per position, the pre-rotation query [numHeads * headDim]. */
  queries: Float64Array[][];
  /** Per layer, per position, the pre-rotation key [numKvHeads * headDim]. */
  keys: Float64Array[][];
  /** Per layer, per position, the RMSNorm output that feeds the attention projections [hiddenSize]. */
  attentionInputs: Float64Array[][];
}

/** Returns weight · x for weight [rows, columns] stored row-major in float32. */
export function project(weight: Float32Array, rows: number, columns: number, x: Float64Array): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < columns; c++) sum += weight[r * columns + c] * x[c];
    out[r] = sum;
  }
  return out;
}

export function rmsNormalize(x: Float64Array, weight: Float32Array, eps: number): Float64Array {
  let meanSquare = 0;
  for (const value of x) meanSquare += value * value;
  meanSquare /= x.length;
  const scale = 1 / Math.sqrt(meanSquare + eps);
  return x.map((value, i) => value * scale * weight[i]);
}

/** Rotates each head of `vector` by `position` with pairs (j, j + headDim/2). */
function rotate(vector: Float64Array, heads: number, headDim: number, position: number, frequencies: Float64Array): Float64Array {
  const out = new Float64Array(vector);
  const half = headDim / 2;
  for (let head = 0; head < heads; head++) {
    for (let j = 0; j < half; j++) {
      const angle = position * frequencies[j];
      const a = vector[head * headDim + j];
      const b = vector[head * headDim + j + half];
      out[head * headDim + j] = a * Math.cos(angle) - b * Math.sin(angle);
      out[head * headDim + j + half] = a * Math.sin(angle) + b * Math.cos(angle);
    }
  }
  return out;
}

/** Runs ids at positions 0 .. ids.length - 1 and returns every position's logits and captures. */
export function referenceForward(model: LoadedModel, ids: readonly number[]): ReferenceResult {
  const { config, weights } = model;
  const { hiddenSize: d, intermediateSize: f, numHeads, numKvHeads, headDim, vocabSize, rmsNormEps } = config;
  const weight = (name: string) => weights.get(name).data;
  const frequencies = ropeInverseFrequencies(config.rope);
  const groupSize = numHeads / numKvHeads;

  let hidden = ids.map((id) => Float64Array.from(weight(weightNames.tokenEmbedding).subarray(id * d, (id + 1) * d)));
  const queries: Float64Array[][] = [];
  const keys: Float64Array[][] = [];
  const attentionInputs: Float64Array[][] = [];

  for (let layer = 0; layer < config.numLayers; layer++) {
    const normed = hidden.map((x) => rmsNormalize(x, weight(weightNames.attentionNorm(layer)), rmsNormEps));
    const q = normed.map((x) => project(weight(weightNames.queryProjection(layer)), numHeads * headDim, d, x));
    const k = normed.map((x) => project(weight(weightNames.keyProjection(layer)), numKvHeads * headDim, d, x));
    const v = normed.map((x) => project(weight(weightNames.valueProjection(layer)), numKvHeads * headDim, d, x));
    queries.push(q);
    keys.push(k);
    attentionInputs.push(normed);
    const qRotated = q.map((vector, position) => rotate(vector, numHeads, headDim, position, frequencies));
    const kRotated = k.map((vector, position) => rotate(vector, numKvHeads, headDim, position, frequencies));

    const attended = ids.map((_, position) => {
      const out = new Float64Array(numHeads * headDim);
      for (let head = 0; head < numHeads; head++) {
        const kvHead = Math.floor(head / groupSize);
        const scores: number[] = [];
        for (let source = 0; source <= position; source++) {
          let dot = 0;
          for (let i = 0; i < headDim; i++) dot += qRotated[position][head * headDim + i] * kRotated[source][kvHead * headDim + i];
          scores.push(dot / Math.sqrt(headDim));
        }
        const max = Math.max(...scores);
        const exps = scores.map((score) => Math.exp(score - max));
        const total = exps.reduce((a, b) => a + b, 0);
        for (let source = 0; source <= position; source++) {
          for (let i = 0; i < headDim; i++) out[head * headDim + i] += (exps[source] / total) * v[source][kvHead * headDim + i];
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
  const logits = hidden.map((x) => project(head, vocabSize, d, rmsNormalize(x, weight(weightNames.finalNorm), rmsNormEps)));
  return { logits, queries, keys, attentionInputs };
}
