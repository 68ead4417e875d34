import type { ProgressEvent } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import type { OutputStream } from "../src/cli-io.js";
import { JsonLinesProgressRenderer } from "../src/progress/json-lines-progress-renderer.js";
import { createProgressRenderer } from "../src/progress/progress-renderer.js";
import { SilentProgressRenderer } from "../src/progress/silent-progress-renderer.js";
import { TtyProgressRenderer } from "../src/progress/tty-progress-renderer.js";

/** Collects writes. `isTTY` and `columns` make cli-progress treat it as a terminal. */
class MemoryStream implements OutputStream {
  readonly chunks: string[] = [];
  readonly columns = 120;

  constructor(readonly isTTY: boolean) {}

  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }

  get text(): string {
    return this.chunks.join("");
  }
}

const stripAnsi = (text: string) => text.replace(/\x1B(?:\[[0-9;?]*[A-Za-z]|[78])/g, "");

describe("createProgressRenderer", () => {
  it("picks the renderer from quiet and isTTY", () => {
    const terminal = createProgressRenderer({ stream: new MemoryStream(true) });
    expect(terminal).toBeInstanceOf(TtyProgressRenderer);
    terminal.close();
    expect(createProgressRenderer({ stream: new MemoryStream(false) })).toBeInstanceOf(JsonLinesProgressRenderer);
    expect(createProgressRenderer({ stream: new MemoryStream(true), quiet: true })).toBeInstanceOf(SilentProgressRenderer);
    expect(createProgressRenderer({ stream: new MemoryStream(false), quiet: true })).toBeInstanceOf(SilentProgressRenderer);
  });
});

describe("SilentProgressRenderer", () => {
  it("writes nothing", () => {
    const stream = new MemoryStream(false);
    const renderer = createProgressRenderer({ stream, quiet: true });
    renderer.listener({ type: "info", task: "load", message: "reading" });
    renderer.close();
    expect(stream.chunks).toEqual([]);
  });
});

describe("JsonLinesProgressRenderer", () => {
  const events: ProgressEvent[] = [
    { type: "start", task: "load", total: 3, unit: "tensor" },
    { type: "advance", task: "load", current: 1, total: 3, metrics: { mib: 1.5 } },
    { type: "info", task: "load", message: "tied output head" },
    { type: "end", task: "load", seconds: 0.25 },
  ];

  it("writes one parseable event per line", () => {
    const stream = new MemoryStream(false);
    const renderer = new JsonLinesProgressRenderer(stream, { advanceIntervalMs: 0 });
    for (const event of events) renderer.listener(event);
    renderer.close();

    expect(stream.text.endsWith("\n")).toBe(true);
    const lines = stream.text.trimEnd().split("\n");
    expect(lines.map((line) => JSON.parse(line))).toEqual(events);
  });

  it("throttles advance events but keeps the one reaching total", () => {
    const stream = new MemoryStream(false);
    let now = 0;
    const renderer = new JsonLinesProgressRenderer(stream, { advanceIntervalMs: 100, now: () => now });
    for (let current = 1; current <= 10; current++) {
      now = current * 30;
      renderer.listener({ type: "advance", task: "eval", current, total: 10 });
    }
    renderer.listener({ type: "end", task: "eval" });

    const written = stream.text.trimEnd().split("\n").map((line) => JSON.parse(line) as ProgressEvent);
    const currents = written.flatMap((event) => (event.type === "advance" ? [event.current] : []));
    // Times 30, 150 and 270 are at least 100 ms apart, and current 10 reaches the total.
    expect(currents).toEqual([1, 5, 9, 10]);
    expect(written.at(-1)).toEqual({ type: "end", task: "eval" });
  });

  it("throttles each task on its own", () => {
    const stream = new MemoryStream(false);
    const renderer = new JsonLinesProgressRenderer(stream, { advanceIntervalMs: 100, now: () => 0 });
    renderer.listener({ type: "advance", task: "a", current: 1 });
    renderer.listener({ type: "advance", task: "b", current: 1 });
    renderer.listener({ type: "advance", task: "a", current: 2 });
    const tasks = stream.text.trimEnd().split("\n").map((line) => (JSON.parse(line) as ProgressEvent).task);
    expect(tasks).toEqual(["a", "b"]);
  });

  it("ignores events after close", () => {
    const stream = new MemoryStream(false);
    const renderer = new JsonLinesProgressRenderer(stream);
    renderer.close();
    renderer.listener({ type: "info", task: "late", message: "after close" });
    expect(stream.chunks).toEqual([]);
  });
});

describe("TtyProgressRenderer", () => {
  it("draws a bar with value, total, unit and metrics", () => {
    const stream = new MemoryStream(true);
    const renderer = new TtyProgressRenderer(stream);
    renderer.listener({ type: "start", task: "perplexity", total: 37, unit: "window" });
    renderer.listener({ type: "advance", task: "perplexity", current: 12, total: 37, unit: "window", metrics: { ppl: 4.07172 } });
    renderer.close();

    const text = stripAnsi(stream.text);
    expect(text).toContain("perplexity");
    expect(text).toContain("12/37 window");
    expect(text).toContain("ppl 4.072");
  });

  it("prints a summary line when a task ends", () => {
    const stream = new MemoryStream(true);
    const renderer = new TtyProgressRenderer(stream);
    renderer.listener({ type: "start", task: "load", total: 4 });
    renderer.listener({ type: "advance", task: "load", current: 4, total: 4 });
    renderer.listener({ type: "end", task: "load", seconds: 1.5, message: "5 layers" });
    renderer.listener({ type: "info", task: "tokenize", message: "19175 tokens" });
    renderer.close();

    const text = stripAnsi(stream.text);
    expect(text).toContain("load: 5 layers (1.50 s)\n");
    expect(text).toContain("tokenize: 19175 tokens\n");
  });

  it("prints start messages of tasks without a total", () => {
    const stream = new MemoryStream(true);
    const renderer = new TtyProgressRenderer(stream);
    renderer.listener({ type: "start", task: "fetch smollm2", message: "downloading" });
    renderer.close();
    expect(stream.text).toBe("fetch smollm2: downloading\n");
  });

  it("restores the cursor on close and then stays silent", () => {
    const stream = new MemoryStream(true);
    const renderer = new TtyProgressRenderer(stream);
    renderer.listener({ type: "start", task: "load", total: 10 });
    renderer.close();
    expect(stream.text).toContain("\x1B[?25l");
    expect(stream.text.lastIndexOf("\x1B[?25h")).toBeGreaterThan(stream.text.lastIndexOf("\x1B[?25l"));

    const written = stream.chunks.length;
    renderer.listener({ type: "advance", task: "load", current: 5, total: 10 });
    renderer.close();
    expect(stream.chunks.length).toBe(written);
  });
});
