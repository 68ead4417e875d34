// Typed errors shared by every package. Each class has a stable `code` that callers can switch on, and
// a message that names the offending value and the fix.

export type ElitekvErrorCode =
  | "file-not-found"
  | "unknown-format"
  | "corrupt-file"
  | "unsupported-tensor-type"
  | "unsupported-architecture"
  | "unsupported-version"
  | "invalid-config"
  | "invalid-tokenizer"
  | "invalid-argument"
  | "context-overflow"
  | "fetch-failed"
  | "checksum-mismatch"
  | "backend-failure";

export interface ElitekvErrorDetails {
  /** File the error is about, when there is one. */
  file?: string;
  /** Header field, tensor name or option the error is about. */
  field?: string;
  cause?: unknown;
}

export class ElitekvError extends Error {
  readonly code: ElitekvErrorCode;
  readonly file: string | undefined;
  readonly field: string | undefined;

  constructor(code: ElitekvErrorCode, message: string, details: ElitekvErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    this.file = details.file;
    this.field = details.field;
  }

  /** Returns true for usage errors: a bad flag or argument rather than a bad file or a failed job. */
  get isUsageError(): boolean {
    return this.code === "invalid-argument";
  }
}

export function isElitekvError(value: unknown): value is ElitekvError {
  return value instanceof ElitekvError;
}
