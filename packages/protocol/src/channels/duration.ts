/**
 * Durations as Centrifugo's configuration writes them (Go's `time.ParseDuration`): one or more
 * number-unit pairs, `300s`, `24h`, `1m30s`, `1.5h`, `250ms`; units ns, us (µs), ms, s, m, h; `0`
 * alone is zero. Signs are not accepted: every duration here is a length of time.
 */
export const GO_DURATION_PATTERN = "^(0|([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$";

const PART = /([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)/y;
const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, "μs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration in nanoseconds, or undefined when `text` is not one. */
export function parseGoDuration(text: string): number | undefined {
  if (text === "0") return 0;
  if (text.length === 0 || text.length > 64) return undefined;
  let ns = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const m = PART.exec(text);
    if (!m) return undefined;
    ns += Math.round(Number(m[1]) * UNIT_NS[m[2]!]!);
  }
  return Number.isFinite(ns) ? ns : undefined;
}

/** `ms` as Go writes a duration (`24h0m0s` is written `24h`): the largest whole unit. */
export function formatGoDuration(ms: number): string {
  for (const [unit, size] of [["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
