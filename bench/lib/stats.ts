/** Percentiles and a histogram of a sample, for latency results. */
export interface Distribution {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** [percentile, value] pairs from 0 to 100, for a CDF plot. */
  cdf: [number, number][];
}

/** The value at percentile `p` (0-100) of an ascending array (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

const CDF_POINTS = [0, 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 97, 98, 99, 99.5, 99.9, 100];

/** Summarises a sample (values in ms). */
export function distribution(values: number[]): Distribution {
  const s = Float64Array.from(values).sort();
  const sorted = Array.from(s);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    min: sorted[0] ?? NaN,
    mean: sorted.length ? sum / sorted.length : NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted[sorted.length - 1] ?? NaN,
    cdf: sorted.length ? CDF_POINTS.map((p) => [p, round(p === 0 ? sorted[0]! : percentile(sorted, p), 3)]) : [],
  };
}

/** Rounds to `digits` decimals. */
export function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** 1234567 -> "1.23M", 12345 -> "12.3k". */
export function si(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${(v / 1e3).toPrecision(3)}k`;
  return `${Math.round(v)}`;
}
