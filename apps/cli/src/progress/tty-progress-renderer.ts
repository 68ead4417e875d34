// Progress for a terminal: one cli-progress bar per running task that declares a total, and plain
// lines for starts without a total, info messages and finished tasks.
import type { ProgressEvent } from "@elitekv/core";
import cliProgress from "cli-progress";

import type { OutputStream } from "../cli-io.js";
import { formatMetrics, formatSeconds } from "./format-progress.js";
import type { ProgressRenderer } from "./progress-renderer.js";

interface TaskState {
  startedAt: number;
  bar: cliProgress.SingleBar | undefined;
}

type AdvanceEvent = Extract<ProgressEvent, { type: "advance" }>;

/** Minimum milliseconds between two redraws, the 10 frames per second of cli-progress's default. */
const redrawIntervalMs = 100;

const barFormat = "{task} {bar} {percentage}% | {value}/{total}{unit} | ETA {eta_formatted}{details}";

export class TtyProgressRenderer implements ProgressRenderer {
  private readonly stream: OutputStream;
  private readonly multiBar: cliProgress.MultiBar;
  private readonly tasks = new Map<string, TaskState>();
  private activeBars = 0;
  private lastRedrawAt = -Infinity;
  private closed = false;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    // Restore the cursor, then let the default signal action terminate the process. cli-progress's
    // own gracefulExit handler would swallow the first Ctrl-C instead.
    this.close();
    process.kill(process.pid, signal);
  };

  constructor(stream: OutputStream) {
    this.stream = stream;
    this.multiBar = new cliProgress.MultiBar(
      {
        stream: stream as unknown as NodeJS.WritableStream,
        format: barFormat,
        hideCursor: true,
        clearOnComplete: true,
        gracefulExit: false,
        autopadding: true,
        barsize: 30,
      },
      cliProgress.Presets.shades_classic,
    );
    process.once("SIGINT", this.onSignal);
    process.once("SIGTERM", this.onSignal);
  }

  readonly listener = (event: ProgressEvent): void => {
    if (this.closed) return;
    switch (event.type) {
      case "start":
        this.tasks.set(event.task, { startedAt: performance.now(), bar: undefined });
        if (event.total !== undefined && event.total > 0) {
          this.updateBar({ type: "advance", task: event.task, current: 0, total: event.total, unit: event.unit });
        } else if (event.message !== undefined) {
          this.writeLine(`${event.task}: ${event.message}`);
        }
        return;
      case "advance":
        if (event.total !== undefined && event.total > 0) this.updateBar(event);
        return;
      case "end":
        this.endTask(event);
        return;
      case "info":
        this.writeLine(`${event.task}: ${event.message}`);
        return;
    }
  };

  close(): void {
    if (this.closed) return;
    this.closed = true;
    process.removeListener("SIGINT", this.onSignal);
    process.removeListener("SIGTERM", this.onSignal);
    if (this.activeBars > 0) {
      // stop() drops lines still buffered by log(), so draw once more to flush them.
      this.multiBar.update();
      this.multiBar.stop();
    }
    this.activeBars = 0;
    this.tasks.clear();
  }

  private updateBar(event: AdvanceEvent): void {
    let state = this.tasks.get(event.task);
    if (state === undefined) {
      state = { startedAt: performance.now(), bar: undefined };
      this.tasks.set(event.task, state);
    }

    const payload = {
      task: event.task,
      unit: event.unit === undefined ? "" : ` ${event.unit}`,
      details: formatDetails(event),
    };
    const total = event.total ?? 0;
    if (state.bar === undefined) {
      state.bar = this.multiBar.create(total, event.current, payload);
      this.activeBars++;
    } else {
      if (state.bar.getTotal() !== total) state.bar.setTotal(total);
      state.bar.update(event.current, payload);
    }
    this.redrawIfDue();
  }

  /**
   * Redraws now when the last redraw is older than the redraw interval. MultiBar redraws from a timer
   * only, and a timer never fires while a synchronous forward pass keeps the event loop busy.
   */
  private redrawIfDue(): void {
    const now = performance.now();
    if (now - this.lastRedrawAt < redrawIntervalMs) return;
    this.lastRedrawAt = now;
    this.multiBar.update();
  }

  private endTask(event: Extract<ProgressEvent, { type: "end" }>): void {
    const state = this.tasks.get(event.task);
    this.tasks.delete(event.task);
    const seconds = event.seconds ?? (state === undefined ? undefined : (performance.now() - state.startedAt) / 1000);
    const summary = event.message ?? "done";
    this.writeLine(seconds === undefined ? `${event.task}: ${summary}` : `${event.task}: ${summary} (${formatSeconds(seconds)})`);

    if (state?.bar === undefined) return;
    // remove() redraws the remaining bars, which also flushes the line logged above them.
    this.multiBar.remove(state.bar);
    this.activeBars--;
    if (this.activeBars === 0) this.multiBar.stop();
  }

  /** Writes a whole line above the bars, or straight to the stream when no bar is drawn. */
  private writeLine(line: string): void {
    if (this.activeBars > 0) {
      this.multiBar.log(`${line}\n`);
      return;
    }
    this.stream.write(`${line}\n`);
  }
}

function formatDetails(event: AdvanceEvent): string {
  const parts: string[] = [];
  const metrics = formatMetrics(event.metrics);
  if (metrics !== "") parts.push(metrics);
  if (event.message !== undefined) parts.push(event.message);
  return parts.length === 0 ? "" : ` | ${parts.join(" | ")}`;
}
