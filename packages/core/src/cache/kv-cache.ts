// The cache a session writes into. Backends own the buffers; this interface exposes only positions and
// byte accounting, so a server can budget memory without knowing the backend.
import type { KvCacheLayout } from "./kv-cache-layout.js";

export interface KvCache {
  readonly layout: KvCacheLayout;
  /** Tokens the allocated buffers can hold. */
  readonly capacity: number;
  /** Tokens stored now. */
  readonly length: number;
  /** Bytes of the buffers actually allocated for cached values. */
  readonly bytesAllocated: number;
  /** Bytes one token occupies, measured from the allocated buffers. */
  readonly bytesPerToken: number;
  /** Bytes occupied by the stored tokens (length * bytesPerToken). */
  readonly bytesUsed: number;
}
