// Collects the capture events of one prefill and assembles them per layer into arrays over all
// positions. A backend may deliver a layer in several runs of positions, in any order, so the collector
// places each run by its startPosition and checks that every position arrives exactly once.
import type { CaptureEvent, CaptureOptions, ModelConfig } from "@elitekv/core";

import { ConformanceMismatchError } from "./conformance-mismatch-error.js";

/** One layer's captured values over positions start .. start + tokens − 1. */
export interface AssembledCapture {
  layer: number;
  /** [tokens, numHeads, headDim], "half" RoPE layout, before rotation. */
  query: Float32Array;
  /** [tokens, numKvHeads, headDim], "half" RoPE layout, before rotation. */
  key: Float32Array;
  /** [tokens, hiddenSize]. */
  attentionInput: Float32Array;
}

export class CaptureCollector {
  private readonly config: ModelConfig;
  private readonly layers: readonly number[];
  private readonly startPosition: number;
  private readonly tokens: number;
  private readonly events: CaptureEvent[] = [];

  /** Expects `layers` for the prefill of `tokens` ids at `startPosition`. */
  constructor(config: ModelConfig, layers: readonly number[], startPosition: number, tokens: number) {
    this.config = config;
    this.layers = layers;
    this.startPosition = startPosition;
    this.tokens = tokens;
  }

  /** Returns the capture option of the prefill, with attention inputs requested. */
  options(): CaptureOptions {
    return {
      layers: [...this.layers],
      attentionInput: true,
      // Copies, because a backend may reuse its buffers after the callback returns.
      onCapture: (event) => {
        this.events.push({
          ...event,
          query: Float32Array.from(event.query),
          key: Float32Array.from(event.key),
          attentionInput: event.attentionInput === undefined ? undefined : Float32Array.from(event.attentionInput),
        });
      },
    };
  }

  /**
   * Returns the assembled capture of every requested layer. Throws ConformanceMismatchError naming the
   * event when a layer was not requested, a run lies outside the prefill, an array has the wrong length,
   * the attention input is missing, or a position is missing or delivered twice.
   */
  assemble(label: string): Map<number, AssembledCapture> {
    const { numHeads, numKvHeads, headDim, hiddenSize } = this.config;
    const widths = { query: numHeads * headDim, key: numKvHeads * headDim, attentionInput: hiddenSize };
    const fail = (message: string, location?: string) => new ConformanceMismatchError(message, { check: "capture", label, location });

    const assembled = new Map<number, AssembledCapture>();
    const seen = new Map<number, Uint8Array>();
    for (const layer of this.layers) {
      assembled.set(layer, {
        layer,
        query: new Float32Array(this.tokens * widths.query),
        key: new Float32Array(this.tokens * widths.key),
        attentionInput: new Float32Array(this.tokens * widths.attentionInput),
      });
      seen.set(layer, new Uint8Array(this.tokens));
    }

    this.events.forEach((event, eventIndex) => {
      const where = `capture event ${eventIndex} (layer ${event.layer}, positions ${event.startPosition}..${event.startPosition + event.tokens - 1})`;
      const target = assembled.get(event.layer);
      if (target === undefined) throw fail(`${where} is for a layer that was not requested; requested ${this.layers.join(", ")}`, where);

      const offset = event.startPosition - this.startPosition;
      if (!Number.isInteger(offset) || !Number.isInteger(event.tokens) || offset < 0 || event.tokens < 1 || offset + event.tokens > this.tokens) {
        throw fail(`${where} lies outside the prefill of positions ${this.startPosition}..${this.startPosition + this.tokens - 1}`, where);
      }
      if (event.attentionInput === undefined) throw fail(`${where} has no attentionInput although attentionInput: true was requested`, where);

      for (const field of ["query", "key", "attentionInput"] as const) {
        const values = event[field]!;
        const expected = event.tokens * widths[field];
        if (values.length !== expected) throw fail(`${where} has ${values.length} ${field} values, expected ${expected}`, where);
        target[field].set(values, offset * widths[field]);
      }

      const positions = seen.get(event.layer)!;
      for (let t = offset; t < offset + event.tokens; t++) {
        if (positions[t] !== 0) throw fail(`${where} delivers position ${this.startPosition + t} a second time`, where);
        positions[t] = 1;
      }
    });

    for (const [layer, positions] of seen) {
      const missing = positions.indexOf(0);
      if (missing >= 0) {
        throw fail(`layer ${layer} position ${this.startPosition + missing} was never delivered`, `layer ${layer}, position ${this.startPosition + missing}`);
      }
    }
    return assembled;
  }
}
