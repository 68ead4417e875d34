// Overlap between calibration and evaluation text: shared runs found at every alignment, runs one
// character too short ignored, and the rejection message naming both sources and offsets.
import { readFileSync } from "node:fs";

import { createRandom, InvalidArgumentError } from "@elitekv/core";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { describe, expect, it } from "vitest";

import { checkTextsDisjoint, defaultOverlapLength, findSharedRun } from "../src/text-overlap.js";

/** Returns `length` random lowercase letters and spaces, so that no two generated texts share long runs. */
function randomText(length: number, seed: number): string {
  const random = createRandom(seed);
  const alphabet = "abcdefghijklmnopqrstuvwxyz ";
  let text = "";
  for (let i = 0; i < length; i++) text += alphabet[Math.floor(random.next() * alphabet.length)];
  return text;
}

describe("findSharedRun", () => {
  it("finds no run in unrelated texts", () => {
    expect(findSharedRun(randomText(5000, 1), randomText(5000, 2), 64)).toBeUndefined();
  });

  it("finds a run of exactly minLength at every alignment", () => {
    const shared = randomText(64, 3);
    for (let shift = 0; shift < 20; shift++) {
      const first = randomText(300 + shift, 4) + shared + randomText(200, 5);
      const second = randomText(1000 + 3 * shift, 6) + shared + randomText(50, 7);
      expect(findSharedRun(first, second, 64), `shift ${shift}`).toEqual({
        firstOffset: 300 + shift,
        secondOffset: 1000 + 3 * shift,
        length: 64,
      });
    }
  });

  it("ignores a run one character shorter than minLength", () => {
    const shared = randomText(63, 8);
    const first = randomText(500, 9) + shared + randomText(500, 10);
    const second = randomText(700, 11) + shared + randomText(100, 12);
    expect(findSharedRun(first, second, 64)).toBeUndefined();
  });

  it("extends a run to its full length", () => {
    const shared = randomText(1000, 13);
    const run = findSharedRun(`x${shared}y`, `z${shared}w`, 64);
    expect(run).toEqual({ firstOffset: 1, secondOffset: 1, length: 1000 });
  });

  it("rejects a non-positive minimum length", () => {
    expect(() => findSharedRun("abc", "abc", 0)).toThrow(InvalidArgumentError);
  });
});

describe("checkTextsDisjoint", () => {
  it("names both sources and the source offsets", () => {
    const shared = randomText(300, 14);
    const calibration = { label: "calib.txt", text: randomText(100, 15) + shared, offset: 5000 };
    const evaluation = { label: "eval.txt", text: randomText(40, 16) + shared, offset: 0 };

    let error: unknown;
    try {
      checkTextsDisjoint(calibration, evaluation, { hint: "pass --calib-skip-chars" });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    const message = (error as Error).message;
    expect(message).toContain("calib.txt");
    expect(message).toContain("eval.txt");
    expect(message).toContain("share 300 characters starting at calibration character 5100 and evaluation character 40");
    expect(message).toContain("pass --calib-skip-chars");
  });

  it("accepts texts that share only short runs", () => {
    const phrase = "Once upon a time, there was a little girl named Lily. ";
    const calibration = { label: "a", text: randomText(500, 17) + phrase + randomText(500, 18), offset: 0 };
    const evaluation = { label: "b", text: phrase + randomText(500, 19), offset: 0 };
    expect(() => checkTextsDisjoint(calibration, evaluation)).not.toThrow();
    expect(defaultOverlapLength).toBeGreaterThan(phrase.length);
  });
});

describe.skipIf(!hasShared)("checkTextsDisjoint on TinyStories", () => {
  const text = hasShared ? readFileSync(sharedPath("data", "tinystories-valid-prefix", "tinystories_val.txt"), "utf8") : "";
  const label = "tinystories_val.txt";
  const evaluation = { label, text: text.slice(0, 40_000), offset: 0 };

  it("accepts calibration from character 400,000", () => {
    expect(() => checkTextsDisjoint({ label, text: text.slice(400_000, 470_000), offset: 400_000 }, evaluation)).not.toThrow();
  });

  it("accepts calibration right after the evaluation text", () => {
    expect(() => checkTextsDisjoint({ label, text: text.slice(40_000, 300_000), offset: 40_000 }, evaluation)).not.toThrow();
  });

  it("rejects calibration that starts inside the evaluation text", () => {
    expect(() => checkTextsDisjoint({ label, text: text.slice(30_000, 100_000), offset: 30_000 }, evaluation)).toThrow(
      /share 10000 characters starting at calibration character 30000 and evaluation character 30000/,
    );
  });
});
