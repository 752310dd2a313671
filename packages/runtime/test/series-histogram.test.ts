import { describe, expect, test } from "bun:test";
import { Histogram, Registry } from "prom-client";
import { LATENCY_BUCKETS, Metrics } from "../src/metrics.ts";
import { SeriesHistogram } from "../src/series-histogram.ts";

describe("SeriesHistogram", () => {
  // Bounds themselves (le is inclusive), between them, below the first, above the last.
  const observations: [string, number][] = [
    ["publish", 0.0005], ["publish", 0.0007], ["publish", 0.001], ["subscribe", 0.0001], ["publish", 7], ["subscribe", 0.3], ["connect", 5], ["publish", 0.02],
  ];

  test("its /metrics text is prom-client's Histogram's for the same observations, byte for byte", async () => {
    const theirs = new Registry();
    const h = new Histogram({ name: "rt_command_duration_seconds", help: "Commands", labelNames: ["command"], buckets: LATENCY_BUCKETS, registers: [theirs] });
    const ours = new Metrics();
    ours.registry.clear(); // without the process metrics, as `theirs`
    const s = ours.seriesHistogram("command_duration_seconds", "Commands", "command");
    for (const [command, v] of observations) {
      h.observe({ command }, v);
      s.observe(command, v);
    }
    expect(await ours.registry.metrics()).toBe(await theirs.metrics());
    // The JSON form: the same values with their labels in one object.
    const values = async (r: Registry) => (await r.getMetricsAsJSON()).flatMap((m) => m.values.map((v) => ({ labels: v.labels, value: v.value, metricName: (v as { metricName?: string }).metricName })));
    expect(await values(ours.registry)).toEqual(await values(theirs));
  });

  test("a value that is not a number is not counted (prom-client would throw on the hot path)", () => {
    const s = new SeriesHistogram("x", "x", "l", [1]);
    s.observe("a", Number.NaN);
    s.observe("a", 0.5);
    const v = s.getForPromString().values;
    expect(v.find((x) => x.metricName === "x_count")?.value).toBe(1);
  });
});
