// The fingerprint that ties a folder of finished layers to one recovery run: a SHA-256 over the
// converted model's weights, the base model's attention weights, the calibration ids and the settings.
import { createHash, type Hash } from "node:crypto";

import { weightNames, type LoadedModel, type Tensor } from "@elitekv/core";

/** Returns the lowercase hex fingerprint of a run. `settings` must be JSON with a stable key order. */
export function recoveryFingerprint(
  base: LoadedModel,
  model: LoadedModel,
  ids: readonly number[],
  settings: Record<string, string | number | boolean>,
): string {
  const hash = createHash("sha256");
  hash.update(JSON.stringify(settings));
  hash.update(Int32Array.from(ids));

  for (const name of [...model.weights.names()].sort()) updateTensor(hash, name, model.weights.get(name));
  for (let layer = 0; layer < base.config.numLayers; layer++) {
    for (const name of [
      weightNames.queryProjection(layer),
      weightNames.keyProjection(layer),
      weightNames.valueProjection(layer),
      weightNames.outputProjection(layer),
    ]) {
      updateTensor(hash, `base.${name}`, base.weights.get(name));
    }
  }
  return hash.digest("hex");
}

function updateTensor(hash: Hash, name: string, tensor: Tensor): void {
  hash.update(`${name}[${tensor.shape.join(",")}]`);
  hash.update(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength));
}
