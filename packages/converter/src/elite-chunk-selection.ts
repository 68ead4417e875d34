// Elite chunk selection: the first r entries of each KV head's chunk ranking, checked against the model.
import { InvalidArgumentError, type ModelConfig } from "@elitekv/core";

/** A chunk ranking per layer and KV head, best chunk first, as the ranking step produces it. */
export interface ChunkRanking {
  layers: { kvHeads: { ranking: number[] }[] }[];
}

/**
 * Returns per layer and KV head the first `ropeChunks` chunks of its ranking. Throws InvalidArgumentError
 * when the ranking does not match the model's layers and KV heads, or a ranking is shorter than
 * `ropeChunks`, repeats a chunk or lists an index outside 0..h/2 − 1.
 */
export function selectEliteChunks(config: ModelConfig, ranking: ChunkRanking, ropeChunks: number): number[][][] {
  const chunkCount = config.headDim / 2;
  if (ranking.layers.length !== config.numLayers) {
    throw new InvalidArgumentError(
      `the chunk ranking covers ${ranking.layers.length} layers but the model has ${config.numLayers}; rank the chunks of this model`,
      { field: "ranking.layers" },
    );
  }

  return ranking.layers.map((layer, layerIndex) => {
    if (layer.kvHeads.length !== config.numKvHeads) {
      throw new InvalidArgumentError(
        `layer ${layerIndex} ranks ${layer.kvHeads.length} KV heads but the model has ${config.numKvHeads}`,
        { field: `ranking.layers[${layerIndex}].kvHeads` },
      );
    }

    return layer.kvHeads.map((head, headIndex) => {
      const field = `ranking.layers[${layerIndex}].kvHeads[${headIndex}].ranking`;
      const valid = head.ranking.every((chunk) => Number.isSafeInteger(chunk) && chunk >= 0 && chunk < chunkCount);
      if (!valid || new Set(head.ranking).size !== head.ranking.length) {
        throw new InvalidArgumentError(
          `the ranking must list distinct chunk indices in 0..${chunkCount - 1}, got [${head.ranking.join(", ")}]`,
          { field },
        );
      }
      if (head.ranking.length < ropeChunks) {
        throw new InvalidArgumentError(
          `the ranking lists ${head.ranking.length} chunks but the target keeps ${ropeChunks} per KV head`,
          { field },
        );
      }
      return head.ranking.slice(0, ropeChunks);
    });
  });
}
