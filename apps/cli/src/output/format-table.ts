// Two-column text tables for the human-readable output of `info` and `eval`.

export type TableRow = readonly [label: string, value: string];

/** Formats rows as left-aligned labels and values, one row per line, ending with a newline. */
export function formatTable(rows: readonly TableRow[]): string {
  const width = Math.max(0, ...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}\n`).join("");
}

/** Formats an integer with thousands separators ("1,280"), independent of the user's locale. */
export function formatInteger(value: number): string {
  return value.toLocaleString("en-US", { maximumFractionDigits: 0 });
}
