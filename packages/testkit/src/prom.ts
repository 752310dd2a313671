/** The samples of one metric in a Prometheus text page, as `labels → value` (labels as written, `""` when none). */
export function samples(page: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of page.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] === "{") {
      const end = rest.indexOf("} ");
      if (end > 0) out.set(rest.slice(1, end), Number(rest.slice(end + 2)));
    } else if (rest[0] === " ") out.set("", Number(rest.slice(1)));
  }
  return out;
}

/** The sum of a metric's samples at `${base}/metrics` whose labels contain `labels` (e.g. `reason="bytes"`); 0 when none. */
export async function metric(base: string, name: string, labels = ""): Promise<number> {
  const res = await fetch(`${base}/metrics`);
  if (!res.ok) throw new Error(`GET ${base}/metrics: ${res.status}`);
  let total = 0;
  for (const [l, v] of samples(await res.text(), name)) if (l.includes(labels)) total += v;
  return total;
}
