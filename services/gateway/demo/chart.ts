/** One sample of one host as the chart keeps it: when (ms), CPU busy percent (NaN when unknown: a host's first sample) and memory in use percent. */
export interface Point {
  t: number;
  cpu: number;
  mem: number;
}

/** The chart's window and size. */
export interface ChartBox {
  /** The newest time shown (ms); the window ends here. */
  now: number;
  windowMs: number;
  width: number;
  height: number;
}

/** Keeps a host's points inside the window (and a bounded number of them). */
export function trim(points: Point[], now: number, windowMs: number, maxPoints = 2000): Point[] {
  const from = now - windowMs;
  let i = 0;
  while (i < points.length && points[i]!.t < from) i++;
  const kept = i > 0 ? points.slice(i) : points;
  return kept.length > maxPoints ? kept.slice(kept.length - maxPoints) : kept;
}

/** A percent (clamped to 0-100) as a y coordinate: 100 at the top. */
const y = (pct: number, height: number): number => height - (Math.min(100, Math.max(0, pct)) / 100) * height;

/** An SVG path (`M x y L x y …`) of one series of `points` over the box; "" with no points in the window. */
export function linePath(points: readonly Point[], pick: (p: Point) => number, box: ChartBox): string {
  const from = box.now - box.windowMs;
  const parts: string[] = [];
  for (const p of points) {
    const v = pick(p);
    if (p.t < from || p.t > box.now || !Number.isFinite(v)) continue;
    const x = ((p.t - from) / box.windowMs) * box.width;
    parts.push(`${parts.length === 0 ? "M" : "L"}${x.toFixed(1)} ${y(v, box.height).toFixed(1)}`);
  }
  return parts.join(" ");
}

/** A sample pushed on `system:monitor`, as a chart point; undefined when it is not one. */
export function toPoint(sample: unknown): { host: string; point: Point } | undefined {
  if (typeof sample !== "object" || sample === null) return undefined;
  const s = sample as Record<string, unknown>;
  const t = typeof s.timestamp === "string" ? Date.parse(s.timestamp) : Number.NaN;
  if (typeof s.host !== "string" || !Number.isFinite(t) || typeof s.memory_usage !== "number") return undefined;
  const cpu = typeof s.cpu_percent === "number" ? s.cpu_percent : Number.NaN;
  return { host: s.host, point: { t, cpu, mem: s.memory_usage } };
}
