// Parsers for the comma-separated lists of `elitekv sweep`: cache ratios, ranking strategies and SVD
// modes. They throw commander's InvalidArgumentError, which the CLI reports as a usage error.
import type { SvdMode } from "@elitekv/converter";
import { rankingStrategies, type RankingStrategy } from "@elitekv/ropelite";
import { svdModes } from "@elitekv/sweep";
import { InvalidArgumentError as InvalidOptionValueError } from "commander";

import { parseCacheRatio } from "../options/number-parsers.js";

/** Parses "0.5,0.25" into distinct cache ratios, each in (0, 1]. */
export function parseRatioList(value: string): number[] {
  return distinct(splitList(value).map(parseCacheRatio));
}

/** Parses "ropelite,uniform" into distinct ranking strategies. */
export function parseStrategyList(value: string): RankingStrategy[] {
  return distinct(splitList(value).map((name) => requireChoice(name, rankingStrategies)));
}

/** Parses "weight,activation" into distinct SVD modes. */
export function parseSvdList(value: string): SvdMode[] {
  return distinct(splitList(value).map((name) => requireChoice(name, svdModes)));
}

function splitList(value: string): string[] {
  const items = value.split(",").map((item) => item.trim());
  if (items.some((item) => item === "")) {
    throw new InvalidOptionValueError(`must be a comma-separated list without empty entries, got '${value}'`);
  }
  return items;
}

function requireChoice<T extends string>(name: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(name)) {
    throw new InvalidOptionValueError(`'${name}' is not one of ${choices.join(", ")}`);
  }
  return name as T;
}

function distinct<T>(values: T[]): T[] {
  const seen = new Set<T>();
  for (const value of values) {
    if (seen.has(value)) throw new InvalidOptionValueError(`lists ${String(value)} twice; list each value once`);
    seen.add(value);
  }
  return values;
}
