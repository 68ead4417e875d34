// Cache accounting: the backend's cache layout and byte counts against the reference layout, the
// session position through prefill, decode and reset, and the logits of a prefill after a reset.
import { cacheBytesPerToken, type Backend, type KvCacheLayout } from "@elitekv/core";

import { compareWithin, rowOf } from "../array-difference.js";
import { ConformanceMismatchError } from "../conformance-mismatch-error.js";
import { resolveTolerances } from "../conformance-tolerances.js";
import type { ReferenceResults } from "../reference-results.js";
import { withSession } from "../with-session.js";
import type { CheckOptions } from "./check-options.js";

export interface CacheAccountingReport {
  layout: KvCacheLayout;
  bytesPerToken: number;
  bytesAllocated: number;
  /** Cache states checked (lengths 0 .. n + k and after the reset). */
  statesChecked: number;
  /** Largest difference of the prefill after the reset against the reference. */
  resetDifference: number;
}

/**
 * Checks the cache of one session against the reference layout and its own counters. The layout must
 * equal the reference's, bytesPerToken must equal cacheBytesPerToken(layout) and capacity must equal
 * maxContext. bytesAllocated must be at least capacity · bytesPerToken and never change. After a
 * prefill of n ids and each of k decodes, length and position must be n + k and bytesUsed
 * (n + k) · bytesPerToken, and reset() must return them to 0. A prefill after the reset must give the
 * reference's logits within tolerances.logits and the session's first logits within
 * tolerances.sameBackend. Throws ConformanceMismatchError naming the first violation.
 */
export async function checkCacheAccounting(backend: Backend, reference: ReferenceResults, options: CheckOptions = {}): Promise<CacheAccountingReport> {
  const tolerances = resolveTolerances(options.tolerances);
  const { ids, label, maxContext, model, decodeIds } = reference;
  const vocabSize = model.config.vocabSize;
  const fail = (message: string, location?: string) => new ConformanceMismatchError(message, { check: "cache-accounting", label, location });

  return withSession(backend, model, maxContext, async (session) => {
    const cache = session.cache;
    const layout = structuredClone(cache.layout);
    if (!layoutsEqual(layout, reference.layout)) {
      throw fail(`cache layout ${JSON.stringify(layout)} differs from the reference layout ${JSON.stringify(reference.layout)}`);
    }

    const bytesPerToken = cacheBytesPerToken(layout);
    if (cache.bytesPerToken !== bytesPerToken) {
      throw fail(`cache.bytesPerToken is ${cache.bytesPerToken} but cacheBytesPerToken(layout) is ${bytesPerToken}`);
    }
    if (cache.capacity !== maxContext) {
      throw fail(`cache.capacity is ${cache.capacity} but the session was created with maxContext ${maxContext}`);
    }
    const bytesAllocated = cache.bytesAllocated;
    if (!(bytesAllocated >= cache.capacity * bytesPerToken)) {
      throw fail(`cache.bytesAllocated is ${bytesAllocated}, below capacity · bytesPerToken = ${cache.capacity * bytesPerToken}`);
    }

    let statesChecked = 0;
    const expectState = (tokens: number, when: string) => {
      const observed = { length: cache.length, position: session.position, bytesUsed: cache.bytesUsed, bytesAllocated: cache.bytesAllocated };
      const expected = { length: tokens, position: tokens, bytesUsed: tokens * bytesPerToken, bytesAllocated };
      for (const field of Object.keys(expected) as Array<keyof typeof expected>) {
        if (observed[field] !== expected[field]) {
          throw fail(`${when}: ${field === "position" ? "session.position" : `cache.${field}`} is ${observed[field]}, expected ${expected[field]}`, when);
        }
      }
      statesChecked++;
    };

    expectState(0, "new session");
    const first = Float32Array.from((await session.prefill(ids)).data);
    expectState(ids.length, `after a prefill of ${ids.length} ids`);
    for (let step = 0; step < decodeIds.length; step++) {
      await session.decode(decodeIds[step]);
      expectState(ids.length + step + 1, `after the prefill and ${step + 1} decodes`);
    }

    session.reset();
    expectState(0, "after reset()");
    const again = await session.prefill(ids);
    expectState(ids.length, "after reset() and a prefill");

    const resetDifference = compareWithin(again.data, rowOf(reference.prefill.data, ids.length - 1, vocabSize), {
      check: "cache-accounting",
      label,
      description: "logits of a prefill after reset() against the reference",
      tolerance: tolerances.logits,
    });
    compareWithin(again.data, first, {
      check: "cache-accounting",
      label,
      description: "logits of a prefill after reset() against the session's first prefill",
      tolerance: tolerances.sameBackend,
    });

    return { layout, bytesPerToken, bytesAllocated, statesChecked, resetDifference };
  });
}

/** Returns true when two layouts have the same fields and values, in any key order. */
function layoutsEqual(a: KvCacheLayout, b: KvCacheLayout): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    entries.sort(([a], [b]) => a.localeCompare(b));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonicalJson(entry)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

