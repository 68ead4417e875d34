// Loads one shared model once and computes the reference results of each variant once, on first use,
// so that every check of a model shares them.
import { join } from "node:path";

import { InvalidArgumentError, type Backend, type LoadedModel } from "@elitekv/core";
import { resolveTarget } from "@elitekv/converter";
import { loadModel } from "@elitekv/models";

import { conformancePromptIds, type ConformanceSettings } from "./conformance-settings.js";
import { buildConformanceVariant, type ConformanceVariant } from "./conformance-variants.js";
import { computeReference, type ReferenceResults } from "./reference-results.js";
import type { ConformanceModel } from "./shared-models.js";

/** The reference results of a variant, or why the variant cannot be built for this model. */
export type VariantCase = { reference: ReferenceResults; skipReason?: undefined } | { reference?: undefined; skipReason: string };

export class ConformanceCases {
  private readonly model: ConformanceModel;
  private readonly sharedDir: string;
  private readonly settings: ConformanceSettings;
  private readonly reference: () => Backend;
  private loaded: Promise<LoadedModel> | undefined;
  private readonly cases = new Map<string, Promise<VariantCase>>();

  /** `reference` returns the reference backend, which exists only once the suite's setup has run. */
  constructor(model: ConformanceModel, sharedDir: string, settings: ConformanceSettings, reference: () => Backend) {
    this.model = model;
    this.sharedDir = sharedDir;
    this.settings = settings;
    this.reference = reference;
  }

  /** Returns the variant's case, computing it on the first call. A failed computation is not cached. */
  variantCase(variant: ConformanceVariant): Promise<VariantCase> {
    let pending = this.cases.get(variant.name);
    if (pending === undefined) {
      pending = this.computeCase(variant);
      pending.catch(() => this.cases.delete(variant.name));
      this.cases.set(variant.name, pending);
    }
    return pending;
  }

  private baseModel(): Promise<LoadedModel> {
    if (this.loaded === undefined) {
      const loading = loadModel(join(this.sharedDir, this.model.path));
      loading.catch(() => {
        if (this.loaded === loading) this.loaded = undefined;
      });
      this.loaded = loading;
    }
    return this.loaded;
  }

  private async computeCase(variant: ConformanceVariant): Promise<VariantCase> {
    const base = await this.baseModel();
    const target = variant.target(base.config);
    if (target !== undefined) {
      // An infeasible target is a property of the model, not a failure of the backend.
      try {
        resolveTarget(base.config, target);
      } catch (error) {
        if (error instanceof InvalidArgumentError) return { skipReason: `${variant.name} cannot be built for ${this.model.name}: ${error.message}` };
        throw error;
      }
    }

    const model = await buildConformanceVariant(base, variant);
    const ids = conformancePromptIds(base, this.settings.promptTokens);
    const reference = await computeReference(this.reference(), model, ids, {
      label: `${this.model.name} ${variant.name}`,
      maxContext: this.settings.maxContext,
      decodeSteps: this.settings.decodeSteps,
    });
    return { reference };
  }
}
