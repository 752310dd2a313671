/** One label value's counts: per bucket (the last one: above every bound), their sum and count. */
interface Series {
  counts: Float64Array;
  sum: number;
  count: number;
}

/** A value as prom-client's registry formats it (`le` in `labels`, the series' own label in `sharedLabels`). */
interface Value {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
}

/**
 * A Prometheus histogram with one label, for a hot path: `observe(labelValue, v)` is a Map lookup
 * and a bucket increment, where prom-client's Histogram hashes and validates its labels object on
 * every observation (about 5% of a busy gateway's CPU: one observation per command and per stored
 * publication). Registered in a prom-client Registry as it is (the registry asks `get` or
 * `getForPromString`), its text output is prom-client's to the byte.
 */
export class SeriesHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly label: string,
    private readonly buckets: readonly number[],
  ) {}

  /** Counts `value` (seconds, say) in the series of `labelValue`. */
  observe(labelValue: string, value: number): void {
    if (!Number.isFinite(value)) return;
    let s = this.series.get(labelValue);
    if (!s) this.series.set(labelValue, (s = { counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 }));
    let i = 0;
    while (i < this.buckets.length && value > this.buckets[i]!) i++;
    s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  /** What the registry formats (the series' label kept apart, as prom-client's Histogram does). */
  getForPromString(): { name: string; help: string; type: string; values: Value[]; aggregator: string } {
    const values: Value[] = [];
    for (const [labelValue, s] of this.series) {
      const shared = { [this.label]: labelValue };
      let acc = 0;
      for (const [i, bound] of this.buckets.entries()) {
        acc += s.counts[i]!;
        values.push({ labels: { le: bound }, sharedLabels: shared, value: acc, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { le: "+Inf" }, sharedLabels: shared, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: {}, sharedLabels: shared, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: shared, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The same with each value's labels in one object (the registry's JSON form). */
  get(): { name: string; help: string; type: string; values: Omit<Value, "sharedLabels">[]; aggregator: string } {
    const data = this.getForPromString();
    return { ...data, values: data.values.map((v) => ({ labels: { ...v.labels, ...v.sharedLabels }, value: v.value, metricName: v.metricName })) };
  }

  reset(): void {
    this.series.clear();
  }
}
