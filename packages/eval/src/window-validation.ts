// Checks shared by the window protocols (perplexity, model comparison): the window fits the session's
// cache and the stream, and every id is inside the vocabulary.
import { InvalidArgumentError, type InferenceSession } from "@elitekv/core";

export function validateWindow(session: InferenceSession, ids: readonly number[], window: number): void {
  if (!Number.isSafeInteger(window) || window < 2) {
    throw new InvalidArgumentError(
      `window is ${window}, but a window needs at least 2 ids to score one prediction; pass a window of 2 or more`,
      { field: "window" },
    );
  }

  const capacity = session.cache.capacity;
  if (window > capacity) {
    throw new InvalidArgumentError(
      `window of ${window} ids exceeds the session's cache capacity of ${capacity} tokens; pass a window of ` +
        `at most ${capacity}, or create the session with maxContext >= ${window}`,
      { field: "window" },
    );
  }

  if (ids.length < window) {
    throw new InvalidArgumentError(
      `only ${ids.length} ids were given, fewer than one window of ${window}; pass more text or a window of ` +
        `at most ${ids.length}`,
      { field: "window" },
    );
  }
}

export function validateIds(session: InferenceSession, ids: readonly number[]): void {
  const vocabSize = session.config.vocabSize;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isSafeInteger(id) || id < 0 || id >= vocabSize) {
      throw new InvalidArgumentError(
        `id ${id} at index ${i} is outside the model's vocabulary of ${vocabSize}; tokenize the text with ` +
          "the model's own tokenizer",
        { field: "ids" },
      );
    }
  }
}
