// The calibration and evaluation ids of `elitekv sweep`. Calibration text starts at a character offset
// of its source and evaluation text at the start of its source. Each is tokenized with BOS once, and
// both are checked for length and for overlap with each other before any model runs.
import { InvalidArgumentError, type LoadedModel, type ProgressListener } from "@elitekv/core";
import { loadTextSource, type TextSource } from "@elitekv/models";
import { checkTextsDisjoint } from "@elitekv/sweep";

export interface SweepTextRequest {
  calibration: string;
  calibrationSkipChars: number;
  calibrationTokens: number;
  seqLen: number;
  evaluation: string;
  evaluationMaxChars?: number;
  window: number;
  /** Shared runs of at least this many characters count as overlap. */
  overlapChars: number;
}

export interface SweepTexts {
  calibration: { ids: number[]; label: string };
  evaluation: { ids: number[]; label: string };
}

// Byte-level BPE and SentencePiece vocabularies of LLaMA-family models spend about 4 characters of
// English per token, so 16 characters per requested token leave a wide margin.
const charactersPerTokenBound = 16;

/**
 * Loads, tokenizes and checks both texts. Throws InvalidArgumentError, naming the flags to change, when
 * --calib-skip-chars skips the whole calibration source, when either text is shorter than one window,
 * and when the texts overlap.
 */
export async function loadSweepTexts(model: LoadedModel, request: SweepTextRequest, onProgress: ProgressListener): Promise<SweepTexts> {
  checkContextLength(model, request.window, "--window");
  checkContextLength(model, request.seqLen, "--seq-len");

  const evaluationSource = await loadTextSource(request.evaluation, { maxChars: request.evaluationMaxChars });
  const evaluationIds = model.tokenizer.encode(evaluationSource.text, { addBos: true });
  onProgress({ type: "info", task: "tokenize", message: `evaluation: ${evaluationSource.description}, ${evaluationIds.length} tokens` });
  if (evaluationIds.length < request.window) {
    const longer = request.evaluationMaxChars === undefined ? "a longer --eval" : "a longer --eval or a larger --eval-max-chars";
    throw new InvalidArgumentError(
      `the evaluation text ${evaluationSource.description} has ${evaluationIds.length} tokens, fewer than one window of ` +
        `${request.window}; pass ${longer}, or --window ${evaluationIds.length} or less`,
      { field: "eval" },
    );
  }

  const calibration = await loadCalibration(model, request);
  onProgress({ type: "info", task: "tokenize", message: `calibration: ${calibration.label}, ${calibration.ids.length} tokens` });

  checkTextsDisjoint(
    { label: calibration.label, text: calibration.usedText, offset: calibration.start },
    { label: evaluationSource.description, text: evaluationSource.text, offset: 0 },
    {
      minLength: request.overlapChars,
      hint:
        "pass a --calib-skip-chars beyond the evaluation text (it starts at character 0 of --eval) or another --calib source",
    },
  );

  if (calibration.ids.length < request.seqLen) {
    throw new InvalidArgumentError(
      `the calibration text ${calibration.label} has ${calibration.ids.length} tokens, fewer than one window of --seq-len ` +
        `${request.seqLen}; pass a longer --calib, a larger --calib-tokens or a smaller --calib-skip-chars, or --seq-len ` +
        `${calibration.ids.length} or less`,
      { field: "calib" },
    );
  }

  return {
    calibration: { ids: calibration.ids, label: calibration.label },
    evaluation: { ids: evaluationIds, label: evaluationSource.description },
  };
}

/**
 * Returns the first --calib-tokens ids of the calibration source after --calib-skip-chars characters,
 * the text they came from, its offset in the source and a label with the character range.
 */
async function loadCalibration(
  model: LoadedModel,
  request: SweepTextRequest,
): Promise<{ ids: number[]; usedText: string; start: number; label: string }> {
  const skip = request.calibrationSkipChars;
  const maxChars = skip + request.calibrationTokens * charactersPerTokenBound;
  const source = await loadTextSource(request.calibration, { maxChars });
  if (source.characters <= skip) {
    throw new InvalidArgumentError(
      `--calib-skip-chars ${skip} skips the whole calibration text ${source.description} of ${source.characters} characters; ` +
        `pass a smaller --calib-skip-chars`,
      { field: "calibSkipChars" },
    );
  }

  // A skip that lands between the halves of a surrogate pair starts after the pair instead.
  const first = source.text.charCodeAt(skip);
  const start = first >= 0xdc00 && first <= 0xdfff ? skip + 1 : skip;
  const text = source.text.slice(start);
  const allIds = model.tokenizer.encode(text, { addBos: true });
  const ids = allIds.slice(0, request.calibrationTokens);

  // When the token budget cuts the text, the used text ends about where the decoded ids end. The
  // overlap length is added as a margin for the difference between decoded and source text.
  // NOTE: the decoded length only estimates the source characters used. A tokenizer that rewrites
  // more characters than the margin (byte fallback of unusual scripts) can leave the end unchecked.
  const usedLength = ids.length === allIds.length ? text.length : Math.min(text.length, model.tokenizer.decode(ids).length + request.overlapChars);
  const usedText = text.slice(0, usedLength);
  return { ids, usedText, start, label: `${sourceName(source)}, characters ${start} to ${start + usedLength}` };
}

/** Returns the source description without the ", first N characters" that a cut by maxChars appends. */
function sourceName(source: TextSource): string {
  const cut = `, first ${source.characters} characters`;
  return source.description.endsWith(cut) ? source.description.slice(0, -cut.length) : source.description;
}

function checkContextLength(model: LoadedModel, tokens: number, flag: string): void {
  const contextLength = model.config.maxPositionEmbeddings;
  if (tokens <= contextLength) return;
  throw new InvalidArgumentError(
    `${flag} ${tokens} exceeds the context length of ${contextLength} tokens of ${model.source.path}; pass ${flag} ${contextLength} or less`,
    { field: flag.slice(2) },
  );
}
