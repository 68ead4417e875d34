// Progress for pipes and log files: one ProgressEvent as JSON per line, so that a wrapper can parse
// stderr line by line.
import type { ProgressEvent } from "@elitekv/core";

import type { OutputStream } from "../cli-io.js";
import type { ProgressRenderer } from "./progress-renderer.js";

export interface JsonLinesOptions {
  /**
   * Minimum milliseconds between two written "advance" events of one task. Skipped events carry no
   * information that the next one lacks, because `current` is absolute. An advance that reaches
   * `total`, and every start, end and info event, is always written.
   */
  advanceIntervalMs?: number;
  /** Clock in milliseconds, replaceable in tests. */
  now?: () => number;
}

export class JsonLinesProgressRenderer implements ProgressRenderer {
  private readonly stream: OutputStream;
  private readonly advanceIntervalMs: number;
  private readonly now: () => number;
  private readonly lastAdvanceAt = new Map<string, number>();
  private closed = false;

  constructor(stream: OutputStream, options: JsonLinesOptions = {}) {
    this.stream = stream;
    this.advanceIntervalMs = options.advanceIntervalMs ?? 100;
    this.now = options.now ?? (() => performance.now());
  }

  readonly listener = (event: ProgressEvent): void => {
    if (this.closed) return;
    if (event.type === "advance" && !this.shouldWriteAdvance(event)) return;
    if (event.type === "end") this.lastAdvanceAt.delete(event.task);
    this.stream.write(`${JSON.stringify(event)}\n`);
  };

  close(): void {
    this.closed = true;
  }

  private shouldWriteAdvance(event: Extract<ProgressEvent, { type: "advance" }>): boolean {
    const time = this.now();
    const last = this.lastAdvanceAt.get(event.task);
    const reachedTotal = event.total !== undefined && event.current >= event.total;
    if (!reachedTotal && last !== undefined && time - last < this.advanceIntervalMs) return false;
    this.lastAdvanceAt.set(event.task, time);
    return true;
  }
}
