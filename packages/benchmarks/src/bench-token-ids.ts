// Token ids for benchmarks: the State of the Union corpus, tokenized by the model's own tokenizer, so
// that prefill and decode run on real text at every context length.
import { InvalidArgumentError, type Tokenizer } from "@elitekv/core";
import { loadTextSource } from "@elitekv/models";

/** Characters tokenized per requested token at first. English prose averages about 4 to 5 per token. */
const initialCharactersPerToken = 6;

/**
 * Returns the first `count` ids of the State of the Union addresses (oldest first), without BOS. Reads
 * a growing prefix of the corpus until it yields enough ids. Throws InvalidArgumentError when the
 * whole corpus is shorter than `count` ids.
 */
export async function loadBenchTokenIds(tokenizer: Tokenizer, count: number): Promise<number[]> {
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new InvalidArgumentError(`the token count must be a positive integer, got ${String(count)}`, { field: "count" });
  }

  let maxChars = count * initialCharactersPerToken;
  for (;;) {
    const source = await loadTextSource("sotu", { maxChars });
    const ids = tokenizer.encode(source.text);
    if (ids.length >= count) return ids.slice(0, count);

    // A prefix shorter than maxChars is the whole corpus.
    if (source.characters < maxChars) {
      throw new InvalidArgumentError(
        `the State of the Union corpus yields ${ids.length} ids, fewer than the ${count} requested; request fewer tokens`,
        { field: "count" },
      );
    }
    maxChars *= 2;
  }
}
