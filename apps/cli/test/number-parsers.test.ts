import { InvalidArgumentError as InvalidOptionValueError } from "commander";
import { describe, expect, it } from "vitest";

import {
  integerParser,
  parsePositiveInteger,
  parseSeed,
  parseTemperature,
  parseTopP,
} from "../src/options/number-parsers.js";

describe("integerParser", () => {
  it("accepts decimal integers in range", () => {
    expect(parsePositiveInteger("512")).toBe(512);
    expect(parsePositiveInteger(" 7 ")).toBe(7);
    expect(integerParser(2)("2")).toBe(2);
    expect(parseSeed("0")).toBe(0);
    expect(parseSeed("4294967295")).toBe(4294967295);
  });

  it.each(["0", "-3", "1.5", "1e3", "0x10", "", "abc", "9007199254740993"])("rejects %j as a positive integer", (value) => {
    expect(() => parsePositiveInteger(value)).toThrow(InvalidOptionValueError);
  });

  it("rejects values outside the range", () => {
    expect(() => integerParser(2)("1")).toThrow("must be an integer >= 2, got 1");
    expect(() => parsePositiveInteger("-5")).toThrow("must be an integer >= 1, got -5");
    expect(() => parseSeed("-1")).toThrow("must be an integer between 0 and 4294967295, got -1");
    expect(() => parseSeed("4294967296")).toThrow("must be an integer between 0 and 4294967295, got 4294967296");
  });
});

describe("sampling parsers", () => {
  it("accepts temperatures from zero up", () => {
    expect(parseTemperature("0")).toBe(0);
    expect(parseTemperature("0.7")).toBe(0.7);
  });

  it.each(["-0.1", "NaN", "Infinity", "", "warm"])("rejects temperature %j", (value) => {
    expect(() => parseTemperature(value)).toThrow(InvalidOptionValueError);
  });

  it("accepts top-p in (0, 1]", () => {
    expect(parseTopP("1")).toBe(1);
    expect(parseTopP("0.9")).toBe(0.9);
  });

  it.each(["0", "1.01", "-1", "NaN"])("rejects top-p %j", (value) => {
    expect(() => parseTopP(value)).toThrow(InvalidOptionValueError);
  });
});
