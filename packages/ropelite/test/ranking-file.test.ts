import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { CorruptFileError, FileNotFoundError, UnsupportedVersionError } from "@elitekv/core";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { fingerprintModelFiles, readRanking, writeRanking, type RopeliteRanking } from "../src/index.js";

function sampleRanking(): RopeliteRanking {
  return {
    schemaVersion: 1,
    model: { fingerprint: "ab".repeat(32), layers: 2, numHeads: 4, numKvHeads: 2, headDim: 8 },
    strategy: "ropelite",
    calibration: { text: "tinystories_val.txt", tokens: 1000, windows: 2, windowLength: 64, pairs: 200, seed: 7 },
    layers: [
      {
        kvHeads: [
          { ranking: [2, 0, 1, 3], objective: [0.5, 0.25, 0.125, 0] },
          { ranking: [0, 1, 2, 3], objective: [0.4, 0.2, 0.1, 0] },
        ],
      },
      {
        kvHeads: [
          { ranking: [3, 2, 1, 0], objective: [1.5, 0.75, 0.1, 0] },
          { ranking: [1, 3, 0, 2], objective: [] },
        ],
      },
    ],
  };
}

describe("ranking.json", () => {
  let folder: string;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), "ropelite-ranking-"));
  });

  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  async function writeRaw(name: string, value: unknown): Promise<string> {
    const path = join(folder, name);
    await writeFile(path, typeof value === "string" ? value : JSON.stringify(value));
    return path;
  }

  it("round-trips through a file", async () => {
    const path = join(folder, "ranking.json");

    await writeRanking(path, sampleRanking());

    expect(await readRanking(path)).toEqual(sampleRanking());
    expect(JSON.parse(await readFile(path, "utf8"))).toEqual(sampleRanking());
    expect((await readdir(folder)).filter((name) => name.startsWith(".elitekv-tmp-"))).toEqual([]);
  });

  it("names the bad field", async () => {
    const cases: Array<[string, (ranking: any) => void, RegExp]> = [
      ["duplicate chunk", (r) => (r.layers[1].kvHeads[0].ranking = [3, 3, 1, 0]), /field layers\[1\]\.kvHeads\[0\]\.ranking/],
      ["short ranking", (r) => (r.layers[0].kvHeads[1].ranking = [0, 1, 2]), /field layers\[0\]\.kvHeads\[1\]\.ranking/],
      ["negative objective", (r) => (r.layers[0].kvHeads[0].objective[1] = -1), /field layers\[0\]\.kvHeads\[0\]\.objective/],
      ["missing KV head", (r) => r.layers[1].kvHeads.pop(), /field layers\[1\]\.kvHeads: expected 2 entries/],
      ["missing layer", (r) => r.layers.pop(), /field layers: expected an array of model.layers = 2 entries/],
      ["bad fingerprint", (r) => (r.model.fingerprint = "xyz"), /field model\.fingerprint/],
      ["unknown strategy", (r) => (r.strategy = "random"), /field strategy: expected one of ropelite/],
      ["missing seed", (r) => delete r.calibration.seed, /field calibration\.seed: expected an integer >= 0, got nothing/],
      ["odd head dim", (r) => (r.model.headDim = 7), /field model\.headDim/],
    ];

    for (const [name, mutate, message] of cases) {
      const ranking = sampleRanking();
      mutate(ranking);
      const path = await writeRaw(`${name.replaceAll(" ", "-")}.json`, ranking);

      const read = readRanking(path);
      await expect(read, name).rejects.toThrow(CorruptFileError);
      await expect(readRanking(path), name).rejects.toThrow(message);
    }
  });

  it("rejects another schema version", async () => {
    const path = await writeRaw("version.json", { ...sampleRanking(), schemaVersion: 2 });

    await expect(readRanking(path)).rejects.toThrow(UnsupportedVersionError);
    await expect(readRanking(path)).rejects.toThrow(/field schemaVersion: schemaVersion 2 is not supported/);
  });

  it("rejects invalid JSON and a missing file", async () => {
    const path = await writeRaw("truncated.json", JSON.stringify(sampleRanking()).slice(0, 50));

    await expect(readRanking(path)).rejects.toThrow(CorruptFileError);
    await expect(readRanking(join(folder, "absent.json"))).rejects.toThrow(FileNotFoundError);
  });

  it("refuses to write an invalid ranking", async () => {
    const ranking = sampleRanking();
    ranking.layers[0].kvHeads[0].ranking = [0, 0, 0, 0];
    const path = join(folder, "invalid.json");

    await expect(writeRanking(path, ranking)).rejects.toThrow(CorruptFileError);
    await expect(readdir(folder)).resolves.not.toContain("invalid.json");
  });
});

describe("fingerprintModelFiles", () => {
  it("hashes the bytes of the files in order", async () => {
    const folder = await mkdtemp(join(tmpdir(), "ropelite-fingerprint-"));
    try {
      await writeFile(join(folder, "a"), "ab");
      await writeFile(join(folder, "b"), "c");

      // sha256("abc") from FIPS 180-2, appendix B.1.
      const expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
      expect(await fingerprintModelFiles([join(folder, "a"), join(folder, "b")])).toBe(expected);
      await expect(fingerprintModelFiles([join(folder, "missing")])).rejects.toThrow(FileNotFoundError);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it.skipIf(!hasShared)("matches the published sha256 of stories260K", async () => {
    const sums = await readFile(sharedPath("models", "stories260K", "SHA256SUMS"), "utf8");
    const expected = sums.split("\n").find((line) => line.endsWith("stories260K.bin"))!.split(/\s+/)[0];

    expect(await fingerprintModelFiles([sharedPath("models", "stories260K", "stories260K.bin")])).toBe(expected);
  });
});
