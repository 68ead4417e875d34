// One class per error code, so `instanceof` and `error.code` both work for callers.
import { ElitekvError, type ElitekvErrorDetails } from "./elitekv-error.js";

function withLocation(message: string, details: ElitekvErrorDetails): string {
  const parts: string[] = [];
  if (details.file !== undefined) parts.push(details.file);
  if (details.field !== undefined) parts.push(`field ${details.field}`);
  return parts.length === 0 ? message : `${parts.join(", ")}: ${message}`;
}

export class FileNotFoundError extends ElitekvError {
  constructor(file: string, hint = "check the path") {
    super("file-not-found", `${file}: file not found; ${hint}`, { file });
  }
}

export class UnknownFormatError extends ElitekvError {
  constructor(file: string, message: string) {
    super("unknown-format", `${file}: ${message}`, { file });
  }
}

/** A file whose bytes contradict its own header: truncated, out-of-range offsets, bad counts. */
export class CorruptFileError extends ElitekvError {
  constructor(message: string, details: ElitekvErrorDetails) {
    super("corrupt-file", withLocation(message, details), details);
  }
}

export class UnsupportedTensorTypeError extends ElitekvError {
  constructor(message: string, details: ElitekvErrorDetails) {
    super("unsupported-tensor-type", withLocation(message, details), details);
  }
}

export class UnsupportedArchitectureError extends ElitekvError {
  constructor(message: string, details: ElitekvErrorDetails) {
    super("unsupported-architecture", withLocation(message, details), details);
  }
}

export class UnsupportedVersionError extends ElitekvError {
  constructor(message: string, details: ElitekvErrorDetails) {
    super("unsupported-version", withLocation(message, details), details);
  }
}

export class InvalidConfigError extends ElitekvError {
  constructor(message: string, details: ElitekvErrorDetails = {}) {
    super("invalid-config", withLocation(message, details), details);
  }
}

export class InvalidTokenizerError extends ElitekvError {
  constructor(message: string, details: ElitekvErrorDetails = {}) {
    super("invalid-tokenizer", withLocation(message, details), details);
  }
}

/** A bad option or argument from the caller; the CLI exits with code 2 for these. */
export class InvalidArgumentError extends ElitekvError {
  constructor(message: string, details: ElitekvErrorDetails = {}) {
    super("invalid-argument", withLocation(message, details), details);
  }
}

export class ContextOverflowError extends ElitekvError {
  readonly requested: number;
  readonly capacity: number;

  constructor(requested: number, capacity: number) {
    super(
      "context-overflow",
      `sequence of ${requested} tokens exceeds the context capacity of ${capacity} tokens; ` +
        "shorten the input or create the session with a larger maxContext",
      { field: "maxContext" },
    );
    this.requested = requested;
    this.capacity = capacity;
  }
}

export class FetchFailedError extends ElitekvError {
  constructor(message: string, details: ElitekvErrorDetails = {}) {
    super("fetch-failed", withLocation(message, details), details);
  }
}

export class ChecksumMismatchError extends ElitekvError {
  constructor(file: string, expected: string, actual: string) {
    super(
      "checksum-mismatch",
      `${file}: sha256 is ${actual} but ${expected} was expected; delete the file and fetch it again`,
      { file },
    );
  }
}

export class BackendFailureError extends ElitekvError {
  constructor(message: string, details: ElitekvErrorDetails = {}) {
    super("backend-failure", withLocation(message, details), details);
  }
}
