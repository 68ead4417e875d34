// Human-readable pieces of a progress line: durations and metric values.

/** Formats seconds as "0.42 s", "12.3 s" or "2 min 05 s". */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "? s";
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  const rest = Math.round(seconds - minutes * 60);
  return `${minutes} min ${String(rest).padStart(2, "0")} s`;
}

/** Formats metrics as "ppl 4.072, nll 1.404" with four significant digits. */
export function formatMetrics(metrics: Record<string, number> | undefined): string {
  if (metrics === undefined) return "";
  return Object.entries(metrics)
    .map(([name, value]) => `${name} ${formatMetricValue(value)}`)
    .join(", ");
}

function formatMetricValue(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return String(value);
  return value.toPrecision(4);
}
