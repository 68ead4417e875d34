// The weights an EliteKV checkpoint must contain and their shapes, from the base config and elite dims.
import { eliteWeightNames, weightNames, type EliteKvConfig, type ModelConfig } from "@elitekv/core";

/**
 * Returns every weight of a converted model with its shape. `output_head` is listed only when the
 * output head is not tied to the token embedding.
 */
export function eliteKvWeightShapes(config: ModelConfig, elite: EliteKvConfig): Map<string, number[]> {
  const hidden = config.hiddenSize;
  const queryRows = config.numHeads * config.headDim;
  const kvHeads = config.numKvHeads;
  const r = elite.ropeChunksPerHead;
  const shapes = new Map<string, number[]>();

  shapes.set(weightNames.tokenEmbedding, [config.vocabSize, hidden]);
  shapes.set(weightNames.finalNorm, [hidden]);
  if (!config.tieWordEmbeddings) shapes.set(weightNames.outputHead, [config.vocabSize, hidden]);

  elite.layers.forEach((layer, index) => {
    shapes.set(weightNames.attentionNorm(index), [hidden]);
    shapes.set(weightNames.queryProjection(index), [queryRows, hidden]);
    shapes.set(weightNames.outputProjection(index), [hidden, queryRows]);
    shapes.set(eliteWeightNames.ropeKeyProjection(index), [kvHeads * 2 * r, hidden]);
    shapes.set(eliteWeightNames.latentDownProjection(index), [layer.latentDim, hidden]);
    shapes.set(eliteWeightNames.keyUpProjection(index), [kvHeads * (config.headDim - 2 * r), layer.latentDim]);
    shapes.set(eliteWeightNames.valueUpProjection(index), [kvHeads * config.headDim, layer.latentDim]);
    shapes.set(weightNames.ffnNorm(index), [hidden]);
    shapes.set(weightNames.gateProjection(index), [config.intermediateSize, hidden]);
    shapes.set(weightNames.downProjection(index), [hidden, config.intermediateSize]);
    shapes.set(weightNames.upProjection(index), [config.intermediateSize, hidden]);
  });
  return shapes;
}
