// Score-greedy pair merging of llama2.c run.c encode(), in O(n log n) instead of run.c's rescan of
// every pair after each merge. The result is the same: each step merges the adjacent pair whose
// concatenated piece has the highest score, and the leftmost such pair on ties.

interface Candidate {
  score: number;
  /** Node index of the left piece; nodes keep their input order, so it orders ties left to right. */
  left: number;
  right: number;
  merged: number;
  leftVersion: number;
  rightVersion: number;
}

/** True when `a` should merge before `b`. */
function before(a: Candidate, b: Candidate): boolean {
  return a.score > b.score || (a.score === b.score && a.left < b.left);
}

class CandidateHeap {
  private readonly items: Candidate[] = [];

  get size(): number {
    return this.items.length;
  }

  push(candidate: Candidate): void {
    const items = this.items;
    items.push(candidate);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i], items[parent])) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }

  pop(): Candidate {
    const items = this.items;
    const top = items[0];
    const last = items.pop() as Candidate;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let best = i;
        if (left < items.length && before(items[left], items[best])) best = left;
        if (right < items.length && before(items[right], items[best])) best = right;
        if (best === i) break;
        [items[i], items[best]] = [items[best], items[i]];
        i = best;
      }
    }
    return top;
  }
}

/**
 * Merges adjacent ids of `input` until no pair's concatenated piece (`keys[a] + keys[b]`) is in
 * `idsByKey` with a score above `minimumScore`. Returns the merged ids.
 */
export function mergePiecesByScore(
  input: readonly number[],
  keys: readonly string[],
  idsByKey: ReadonlyMap<string, number>,
  scores: Float32Array,
  minimumScore: number,
): number[] {
  const count = input.length;
  const ids = Int32Array.from(input);
  const next = new Int32Array(count);
  const previous = new Int32Array(count);
  const versions = new Int32Array(count);
  const alive = new Uint8Array(count).fill(1);
  for (let i = 0; i < count; i++) {
    next[i] = i + 1 < count ? i + 1 : -1;
    previous[i] = i - 1;
  }

  const heap = new CandidateHeap();
  const offer = (left: number, right: number): void => {
    if (left < 0 || right < 0) return;
    const merged = idsByKey.get(keys[ids[left]] + keys[ids[right]]);
    if (merged === undefined) return;
    const score = scores[merged];
    if (!(score > minimumScore)) return;
    heap.push({ score, left, right, merged, leftVersion: versions[left], rightVersion: versions[right] });
  };

  for (let i = 0; i + 1 < count; i++) offer(i, i + 1);

  while (heap.size > 0) {
    const candidate = heap.pop();
    const { left, right } = candidate;
    const stale =
      alive[left] === 0 ||
      alive[right] === 0 ||
      next[left] !== right ||
      versions[left] !== candidate.leftVersion ||
      versions[right] !== candidate.rightVersion;
    if (stale) continue;

    ids[left] = candidate.merged;
    versions[left]++;
    alive[right] = 0;
    next[left] = next[right];
    if (next[right] >= 0) previous[next[right]] = left;

    offer(previous[left], left);
    offer(left, next[left]);
  }

  const output: number[] = [];
  for (let i = count > 0 ? 0 : -1; i >= 0; i = next[i]) output.push(ids[i]);
  return output;
}
