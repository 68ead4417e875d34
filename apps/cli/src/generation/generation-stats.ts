// Statistics of `generate --stats`: the KV cache a generation used and its prefill and decode speed.
import type { KvCache } from "@elitekv/core";

import type { GenerationResult } from "./generate-tokens.js";

export interface CacheUsage {
  kind: "full" | "elitekv";
  /** Bytes of cached keys, values or latents for the tokens in the cache, over all layers. */
  bytesUsed: number;
  bytesPerToken: number;
  /** Tokens in the cache. */
  tokens: number;
}

export interface GenerationStats {
  cache: CacheUsage;
  prefillTokens: number;
  prefillTokensPerSecond: number;
  decodeTokens: number;
  decodeTokensPerSecond: number;
}

/** Returns the usage of `cache` now. Call it before the session is disposed. */
export function cacheUsage(cache: KvCache): CacheUsage {
  return { kind: cache.layout.kind, bytesUsed: cache.bytesUsed, bytesPerToken: cache.bytesPerToken, tokens: cache.length };
}

export function generationStats(result: GenerationResult, promptTokens: number, cache: CacheUsage): GenerationStats {
  return {
    cache,
    prefillTokens: promptTokens,
    prefillTokensPerSecond: promptTokens / Math.max(result.prefillSeconds, 1e-9),
    decodeTokens: result.ids.length,
    decodeTokensPerSecond: result.ids.length / Math.max(result.decodeSeconds, 1e-9),
  };
}

/** Formats the stats as "stats: ..." lines for stderr. */
export function formatGenerationStats(stats: GenerationStats): string {
  const { cache } = stats;
  return (
    `stats: ${cache.kind} KV cache, ${cache.bytesUsed} bytes used for ${cache.tokens} tokens, ${cache.bytesPerToken} bytes per token\n` +
    `stats: prefill ${stats.prefillTokens} tokens at ${stats.prefillTokensPerSecond.toFixed(1)} tokens/s, ` +
    `decode ${stats.decodeTokens} tokens at ${stats.decodeTokensPerSecond.toFixed(1)} tokens/s\n`
  );
}
