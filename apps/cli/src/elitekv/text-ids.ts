// Calibration and evaluation ids: a text source tokenized with BOS once at the start, cut to a budget.
import type { LoadedModel, ProgressListener } from "@elitekv/core";
import { loadTextSource } from "@elitekv/models";

export interface TextIds {
  ids: number[];
  /** Label of the text source, such as a file path or "State of the Union 1990-2018". */
  description: string;
}

// Byte-level BPE and SentencePiece vocabularies of LLaMA-family models spend about 4 characters of
// English per token, so 16 characters per requested token leave a wide margin.
// NOTE: a text of unusually short tokens (code, digits) may still yield fewer than `maxTokens` ids; the
// callers then use the ids there are.
const charactersPerTokenBound = 16;

/**
 * Loads `spec` (a UTF-8 file, `sotu`, `sotu:YEAR` or `sotu:FROM-TO`), tokenizes it with BOS once and
 * keeps the first `maxTokens` ids. Only a prefix of the text is tokenized, so a large corpus costs
 * no more than the budget needs.
 */
export async function loadTextIds(
  spec: string,
  model: LoadedModel,
  budget: { maxTokens?: number; maxChars?: number },
  onProgress: ProgressListener,
): Promise<TextIds> {
  const tokenBound = budget.maxTokens === undefined ? undefined : budget.maxTokens * charactersPerTokenBound;
  const maxChars = minDefined(budget.maxChars, tokenBound);
  const text = await loadTextSource(spec, { maxChars });

  const allIds = model.tokenizer.encode(text.text, { addBos: true });
  const ids = budget.maxTokens === undefined ? allIds : allIds.slice(0, budget.maxTokens);
  onProgress({
    type: "info",
    task: "tokenize",
    message: `${text.description}: ${text.characters} characters, ${ids.length} tokens used`,
  });
  return { ids, description: text.description };
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
