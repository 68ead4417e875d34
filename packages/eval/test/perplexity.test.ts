import { BackendFailureError, InvalidArgumentError, type ProgressEvent } from "@elitekv/core";
import { describe, expect, it } from "vitest";

import { computePerplexity } from "../src/index.js";
import { FakeSession } from "./fake-session.js";

// With the fake session's logits a favoured target costs ln(8/5) nats and any other target ln 8.
const favouredNll = Math.log(8 / 5);
const otherNll = Math.log(8);

// Window 4. Window 0 predicts 0, 1 (favoured at positions 0, 1) and 3 (position 2 favours 2). Window 1
// predicts 0 (favoured at position 0), then 3 and 1 (positions 1, 2 favour 1, 2). The last two ids form a
// partial window.
const stream = [3, 0, 1, 3, 2, 0, 3, 1, 1, 2];
const expectedWindowMeans = [(2 * favouredNll + otherNll) / 3, (favouredNll + 2 * otherNll) / 3];

describe("computePerplexity protocol", () => {
  it("matches the hand-computed NLL per window", async () => {
    const session = new FakeSession({ capacity: 4 });

    const result = await computePerplexity(session, stream, { window: 4 });

    expect(result.windowMeanNll).toHaveLength(2);
    expect(result.windowMeanNll[0]).toBeCloseTo(expectedWindowMeans[0], 6);
    expect(result.windowMeanNll[1]).toBeCloseTo(expectedWindowMeans[1], 6);
    const expectedMean = (expectedWindowMeans[0] + expectedWindowMeans[1]) / 2;
    expect(result.meanNll).toBeCloseTo(expectedMean, 6);
    expect(result.ppl).toBeCloseTo(Math.exp(expectedMean), 5);
  });

  it("drops the partial last window", async () => {
    const session = new FakeSession({ capacity: 4 });

    const result = await computePerplexity(session, stream, { window: 4 });

    expect(result.windows).toBe(2);
    expect(result.tokens).toBe(6);
    expect(result.droppedIds).toBe(2);
    expect(result.window).toBe(4);
    expect(session.prefills.map((call) => call.ids)).toEqual([
      [3, 0, 1, 3],
      [2, 0, 3, 1],
    ]);
  });

  it("resets the session before each window", async () => {
    const session = new FakeSession({ capacity: 4 });

    await computePerplexity(session, stream, { window: 4 });

    expect(session.resets).toBe(2);
    expect(session.prefills.map((call) => call.startPosition)).toEqual([0, 0]);
    expect(session.prefills.map((call) => call.logits)).toEqual(["all", "all"]);
  });

  it("scores an exact multiple without dropping", async () => {
    const session = new FakeSession({ capacity: 8 });

    const result = await computePerplexity(session, stream.slice(0, 8), { window: 2 });

    // Window w predicts stream[2w + 1] (0, 3, 0, 1) at position 0, which favours id 0.
    const expected = [favouredNll, otherNll, favouredNll, otherNll];
    expect(result.windows).toBe(4);
    expect(result.tokens).toBe(4);
    expect(result.droppedIds).toBe(0);
    for (let w = 0; w < 4; w++) expect(result.windowMeanNll[w]).toBeCloseTo(expected[w], 6);
  });

  it("reports progress once per window", async () => {
    const session = new FakeSession({ capacity: 4 });
    const events: ProgressEvent[] = [];

    const result = await computePerplexity(session, stream, { window: 4, onProgress: (event) => events.push(event) });

    expect(events.map((event) => event.type)).toEqual(["start", "advance", "advance", "end"]);
    const advances = events.filter((event) => event.type === "advance");
    expect(advances.map((event) => event.current)).toEqual([1, 2]);
    expect(advances.map((event) => event.total)).toEqual([2, 2]);
    expect(advances[0].metrics?.tokensPerSecond).toBeGreaterThan(0);
    expect(advances[0].metrics?.ppl).toBeCloseTo(Math.exp(expectedWindowMeans[0]), 5);
    expect(advances[1].metrics?.ppl).toBeCloseTo(result.ppl, 10);
  });

  it("stops at the next window when aborted", async () => {
    const session = new FakeSession({ capacity: 4 });
    const controller = new AbortController();

    const run = computePerplexity(session, stream, {
      window: 4,
      signal: controller.signal,
      onProgress: (event) => {
        if (event.type === "advance") controller.abort(new Error("stopped by test"));
      },
    });

    await expect(run).rejects.toThrow("stopped by test");
    expect(session.prefills).toHaveLength(1);
  });
});

describe("computePerplexity errors", () => {
  it("rejects a window below 2", async () => {
    const run = computePerplexity(new FakeSession(), stream, { window: 1 });

    await expect(run).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(run).rejects.toThrow(/window is 1/);
  });

  it("rejects a window above capacity", async () => {
    const run = computePerplexity(new FakeSession({ capacity: 4 }), stream, { window: 5 });

    await expect(run).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(run).rejects.toThrow(/window of 5 ids exceeds the session's cache capacity of 4 tokens/);
  });

  it("rejects fewer ids than one window", async () => {
    const run = computePerplexity(new FakeSession({ capacity: 8 }), stream.slice(0, 3), { window: 4 });

    await expect(run).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(run).rejects.toThrow(/only 3 ids were given, fewer than one window of 4/);
  });

  it("rejects ids outside the vocabulary", async () => {
    const session = new FakeSession({ capacity: 4 });

    const run = computePerplexity(session, [0, 1, 4, 2], { window: 4 });

    await expect(run).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(run).rejects.toThrow(/id 4 at index 2 is outside the model's vocabulary of 4/);
    expect(session.prefills).toHaveLength(0);
  });

  it("rejects a backend without all-row logits", async () => {
    const run = computePerplexity(new FakeSession({ ignoreAllLogits: true }), stream, { window: 4 });

    await expect(run).rejects.toBeInstanceOf(BackendFailureError);
    await expect(run).rejects.toThrow(/returned \[1, 4\] logits, expected \[4, 4\]/);
  });

  it("rejects NaN logits", async () => {
    const run = computePerplexity(new FakeSession({ nanAtPosition: 1 }), stream, { window: 4 });

    await expect(run).rejects.toBeInstanceOf(BackendFailureError);
    await expect(run).rejects.toThrow(/window 0 \(ids 0 \.\. 3\) has a NaN NLL/);
  });
});
