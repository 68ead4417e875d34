// The folder of finished layers that makes a recovery resumable. After each layer its refitted tensors
// go to layer-<l>.safetensors and the layer's record to recovery-state.json, each written under a
// temporary name and renamed. A rerun with the same fingerprint (model, base, calibration ids and
// settings) loads the finished layers instead of fitting them again.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

import { CorruptFileError, FileNotFoundError, InvalidArgumentError, type Tensor } from "@elitekv/core";
import { SafetensorsReader, writeSafetensors } from "@elitekv/models";

export const recoveryStateFileName = "recovery-state.json";
const stateFormatVersion = 1;

/** One finished layer as the state file records it. */
export interface FinishedLayer {
  layer: number;
  lossBefore: number;
  lossAfter: number;
}

interface RecoveryState {
  formatVersion: typeof stateFormatVersion;
  fingerprint: string;
  layers: FinishedLayer[];
}

export function layerFileName(layer: number): string {
  return `layer-${layer}.safetensors`;
}

/** A partial folder opened for one recovery run. */
export class PartialRecoveryFolder {
  readonly dir: string;
  private readonly fingerprint: string;
  private readonly finished: FinishedLayer[];

  private constructor(dir: string, fingerprint: string, finished: FinishedLayer[]) {
    this.dir = dir;
    this.fingerprint = fingerprint;
    this.finished = finished;
  }

  /**
   * Opens `dir`, creating it when missing (its parent must exist). Throws InvalidArgumentError when the
   * folder contains layers of a run with another fingerprint, and CorruptFileError for an unreadable state.
   */
  static async open(dir: string, fingerprint: string): Promise<PartialRecoveryFolder> {
    const stats = await stat(dir).catch(() => undefined);
    if (stats === undefined) {
      const parentStats = await stat(dirname(dir)).catch(() => undefined);
      if (parentStats?.isDirectory() !== true) throw new FileNotFoundError(dirname(dir), "the folder of finished layers needs an existing parent folder");
      await mkdir(dir);
      return new PartialRecoveryFolder(dir, fingerprint, []);
    }
    if (!stats.isDirectory()) {
      throw new InvalidArgumentError(`${dir} is a file, but recovery keeps its finished layers in a folder there; move the file away`, { file: dir });
    }

    const statePath = join(dir, recoveryStateFileName);
    const text = await readFile(statePath, "utf8").catch(() => undefined);
    if (text === undefined) return new PartialRecoveryFolder(dir, fingerprint, []);
    const state = parseState(text, statePath);
    if (state.fingerprint !== fingerprint) {
      throw new InvalidArgumentError(
        `${dir} contains layers of a recovery run with another model, base, calibration text or settings; ` +
          "delete the folder to start over, or rerun with the same settings to resume",
        { file: statePath, field: "fingerprint" },
      );
    }
    return new PartialRecoveryFolder(dir, fingerprint, state.layers);
  }

  /** Finished layers in layer order. */
  finishedLayers(): readonly FinishedLayer[] {
    return this.finished;
  }

  /** Reads the tensors of a finished layer. Throws CorruptFileError when its file is missing or unreadable. */
  async readLayer(layer: number): Promise<Map<string, Tensor>> {
    const path = join(this.dir, layerFileName(layer));
    const reader = await SafetensorsReader.open(path).catch((error: unknown) => {
      throw new CorruptFileError(`the finished layer ${layer} cannot be read (${(error as Error).message}); delete ${this.dir} and start over`, {
        file: path,
      });
    });
    try {
      const tensors = new Map<string, Tensor>();
      for (const name of reader.names()) {
        const tensor = await reader.read(name);
        tensors.set(name, { shape: tensor.shape, data: tensor.data });
      }
      return tensors;
    } finally {
      await reader.close();
    }
  }

  /** Writes the layer's tensors, then adds its record to the state file. */
  async writeLayer(record: FinishedLayer, tensors: ReadonlyMap<string, Tensor>): Promise<void> {
    await writeSafetensors(join(this.dir, layerFileName(record.layer)), tensors, { format: "elitekv-recovery-layer" });
    this.finished.push({ ...record });
    const state: RecoveryState = { formatVersion: stateFormatVersion, fingerprint: this.fingerprint, layers: this.finished };
    const path = join(this.dir, recoveryStateFileName);
    const temporary = join(this.dir, `.${recoveryStateFileName}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
    await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`);
    await rename(temporary, path);
  }
}

function parseState(text: string, file: string): RecoveryState {
  const fail = (field: string, message: string) => new CorruptFileError(`${message}; delete the folder to start over`, { file, field });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw fail("(root)", "the state file is not valid JSON");
  }
  if (typeof raw !== "object" || raw === null) throw fail("(root)", "the state file must hold a JSON object");
  const state = raw as Record<string, unknown>;
  if (state.formatVersion !== stateFormatVersion) throw fail("formatVersion", `formatVersion must be ${stateFormatVersion}, got ${String(state.formatVersion)}`);
  if (typeof state.fingerprint !== "string") throw fail("fingerprint", "fingerprint must be a string");
  if (!Array.isArray(state.layers)) throw fail("layers", "layers must be an array");

  const layers = state.layers.map((entry: unknown, index: number): FinishedLayer => {
    const layer = entry as Record<string, unknown>;
    const valid =
      typeof layer === "object" &&
      layer !== null &&
      layer.layer === index &&
      typeof layer.lossBefore === "number" &&
      typeof layer.lossAfter === "number";
    if (!valid) throw fail(`layers[${index}]`, `layers[${index}] must be {layer: ${index}, lossBefore, lossAfter}, because layers finish in order`);
    return { layer: index, lossBefore: layer.lossBefore as number, lossAfter: layer.lossAfter as number };
  });
  return { formatVersion: stateFormatVersion, fingerprint: state.fingerprint, layers };
}
