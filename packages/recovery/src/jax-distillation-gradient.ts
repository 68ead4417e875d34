// DistillationLossGradient on jax-js (@jax-js/jax 0.1.25, pinned), on its WebAssembly device in Node.
// The converted model's whole forward pass is written in jax-js: RMSNorm, the converted attention of
// every layer (jax-elite-attention.ts), the SwiGLU FFN and the output head, from the window's token
// embeddings to the log-probabilities of every position. Only the attention weights are differentiated;
// the norms, the FFN and the output head are fixed arrays uploaded once.
import { grad, jit, nn, numpy as np, tree } from "@jax-js/jax";

import { weightNames, type LoadedModel } from "@elitekv/core";

import { attentionParameterNames, type EliteAttentionParameters } from "./attention-gradient.js";
import type { DistillationLossGradient, DistillationWindow } from "./distillation-gradient.js";
import { einsum, initWasm, type JaxArray } from "./jax-device.js";
import {
  attentionParameterShapes,
  jaxEliteAttention,
  layerConstants,
  type JaxAttentionParameters,
  type LayerConstants,
} from "./jax-elite-attention.js";

/** Weights of the model that distillation does not change. */
interface FixedWeights {
  attentionNorms: JaxArray[];
  ffnNorms: JaxArray[];
  gates: JaxArray[];
  ups: JaxArray[];
  downs: JaxArray[];
  finalNorm: JaxArray;
  outputHead: JaxArray;
}

/**
 * Creates the jax-js implementation for windows of exactly `tokens` positions of the converted `model`.
 * Throws InvalidArgumentError (from the weight store) when a weight is missing.
 * NOTE: it computes in float32; the backends keep the residual stream in float64 (CPU) or float32 (ORT).
 */
export async function createJaxDistillationGradient(model: LoadedModel, tokens: number): Promise<DistillationLossGradient> {
  await initWasm();
  const config = model.config;
  const elite = model.elite!;
  const { hiddenSize, vocabSize, rmsNormEps, numLayers } = config;
  const hosts: LayerConstants[] = elite.layers.map((layer) => layerConstants(config, layer, tokens));
  const shapes = elite.layers.map((layer) => attentionParameterShapes(config, layer));

  const upload = (name: string) => {
    const tensor = model.weights.get(name);
    return np.array(Float32Array.from(tensor.data), { shape: [...tensor.shape] });
  };
  const layers = Array.from({ length: numLayers }, (_, layer) => layer);
  let fixed: FixedWeights | undefined = {
    attentionNorms: layers.map((layer) => upload(weightNames.attentionNorm(layer))),
    ffnNorms: layers.map((layer) => upload(weightNames.ffnNorm(layer))),
    gates: layers.map((layer) => upload(weightNames.gateProjection(layer))),
    ups: layers.map((layer) => upload(weightNames.upProjection(layer))),
    downs: layers.map((layer) => upload(weightNames.downProjection(layer))),
    finalNorm: upload(weightNames.finalNorm),
    outputHead: upload(model.weights.has(weightNames.outputHead) ? weightNames.outputHead : weightNames.tokenEmbedding),
  };

  const rmsNorm = (x: JaxArray, weight: JaxArray): JaxArray => {
    const meanSquare = np.mean(np.square(x.ref), -1, { keepdims: true });
    return np.multiply(np.multiply(x, np.reciprocal(np.sqrt(np.add(meanSquare, rmsNormEps)))), weight);
  };

  // Returns the last layer's output [tokens, hidden] of one window; consumes every argument once.
  const body = (parameters: JaxAttentionParameters[], weights: FixedWeights, embeddings: JaxArray): JaxArray => {
    let hidden = embeddings;
    for (let layer = 0; layer < numLayers; layer++) {
      const attentionInput = rmsNorm(hidden.ref, weights.attentionNorms[layer]);
      hidden = np.add(hidden, jaxEliteAttention(config, elite.layers[layer], hosts[layer], tokens, parameters[layer], attentionInput));

      const ffnInput = rmsNorm(hidden.ref, weights.ffnNorms[layer]);
      const gate = einsum("td,fd->tf", ffnInput.ref, weights.gates[layer]);
      const up = einsum("td,fd->tf", ffnInput, weights.ups[layer]);
      hidden = np.add(hidden, einsum("tf,df->td", np.multiply(nn.silu(gate), up), weights.downs[layer]));
    }
    return hidden;
  };

  // The output head runs as separate compiled functions. In one function with the body, jax-js 0.1.25
  // fused the softmax into the backward product with the output head and recomputed it for every
  // hidden dim: 18 s instead of 1 s per SmolLM2 window of 128 tokens.
  // headForward returns the normalised rows, the mean soft cross-entropy and its gradient with respect
  // to the logits, (softmax(logits) − targets) / tokens, which is exact because every target row sums to 1.
  const headForward = (hidden: JaxArray, finalNorm: JaxArray, outputHead: JaxArray, targets: JaxArray): JaxArray[] => {
    const logits = einsum("td,vd->tv", rmsNorm(hidden, finalNorm), outputHead);
    const logProbabilities = nn.logSoftmax(logits, -1);
    const loss = np.multiply(np.sum(np.multiply(targets.ref, logProbabilities.ref)), -1 / tokens);
    const logitGradient = np.multiply(np.subtract(np.exp(logProbabilities), targets), 1 / tokens);
    return [loss, logitGradient];
  };
  const headBackward = (logitGradient: JaxArray, outputHead: JaxArray): JaxArray => einsum("tv,vd->td", logitGradient, outputHead);
  // Returns the gradient with respect to the last hidden rows from the gradient with respect to the normalised rows.
  const normBackward = grad((hidden: JaxArray, finalNorm: JaxArray, normedGradient: JaxArray) =>
    np.sum(np.multiply(rmsNorm(hidden, finalNorm), normedGradient)),
  );
  // Σ body(parameters) ⊙ G: its gradient with respect to the parameters is the body's vector-Jacobian
  // product with G, the gradient of the loss with respect to the last hidden rows.
  const bodyProjection = (parameters: JaxAttentionParameters[], weights: FixedWeights, embeddings: JaxArray, hiddenGradient: JaxArray): JaxArray =>
    np.sum(np.multiply(body(parameters, weights, embeddings), hiddenGradient));

  const compiledBody = jit(body);
  const compiledHead = jit(headForward);
  const compiledHeadBackward = jit(headBackward);
  const compiledNormBackward = jit(normBackward);
  const bodyGradient = jit(grad(bodyProjection, { argnums: 0 }));

  const toJax = (parameters: readonly EliteAttentionParameters[]): JaxAttentionParameters[] =>
    parameters.map((layerParameters, layer) => {
      const entries = attentionParameterNames.map((name) => [name, np.array(layerParameters[name], { shape: shapes[layer][name] })] as const);
      return Object.fromEntries(entries) as JaxAttentionParameters;
    });
  const windowArrays = (window: DistillationWindow) => {
    checkWindow(window, tokens, hiddenSize, vocabSize);
    return {
      embeddings: np.array(window.embeddings, { shape: [tokens, hiddenSize] }),
      targets: np.array(window.targets, { shape: [tokens, vocabSize] }),
    };
  };
  const fixedRefs = (): FixedWeights => {
    if (fixed === undefined) throw new Error("the distillation gradient was disposed");
    return tree.ref(fixed);
  };

  const forward = (parameters: readonly EliteAttentionParameters[], window: DistillationWindow) => {
    const { embeddings, targets } = windowArrays(window);
    const hidden = compiledBody(toJax(parameters), fixedRefs(), embeddings.ref);
    const head = fixedRefs();
    const [loss, logitGradient] = compiledHead(hidden.ref, head.finalNorm.ref, head.outputHead.ref, targets);
    tree.dispose(head);
    return { embeddings, hidden, loss, logitGradient };
  };

  return {
    async lossAndGradient(parameters, window) {
      const { embeddings, hidden, loss, logitGradient } = forward(parameters, window);
      const { outputHead, finalNorm } = fixed!;
      const normedGradient = compiledHeadBackward(logitGradient, outputHead.ref);
      const hiddenGradient = compiledNormBackward(hidden, finalNorm.ref, normedGradient);
      const gradient = bodyGradient(toJax(parameters), fixedRefs(), embeddings, hiddenGradient) as JaxAttentionParameters[];

      const result: EliteAttentionParameters[] = [];
      for (const layerGradient of gradient) {
        const layerResult = {} as EliteAttentionParameters;
        for (const name of attentionParameterNames) layerResult[name] = Float32Array.from(await layerGradient[name].data());
        result.push(layerResult);
      }
      return { loss: (await loss.data())[0], gradient: result };
    },

    async loss(parameters, window) {
      const { embeddings, hidden, loss, logitGradient } = forward(parameters, window);
      const value = (await loss.data())[0];
      tree.dispose([embeddings, hidden, logitGradient]);
      return value;
    },

    dispose() {
      if (fixed !== undefined) tree.dispose(fixed);
      fixed = undefined;
      for (const compiled of [compiledBody, compiledHead, compiledHeadBackward, compiledNormBackward, bodyGradient]) compiled.dispose();
    },
  };
}

function checkWindow(window: DistillationWindow, tokens: number, hiddenSize: number, vocabSize: number): void {
  if (window.embeddings.length !== tokens * hiddenSize) {
    throw new RangeError(`the window has ${window.embeddings.length} embedding values, expected ${tokens} × ${hiddenSize}`);
  }
  if (window.targets.length !== tokens * vocabSize) {
    throw new RangeError(`the window has ${window.targets.length} target probabilities, expected ${tokens} × ${vocabSize}`);
  }
}
