import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from "prom-client";
import { SeriesHistogram } from "./series-histogram.ts";

/** The one prefix of every metric the services define (`process_*` and `nodejs_*` keep their standard names). */
export const METRIC_PREFIX = "rt_";

/** Buckets (seconds) for command and store latencies: 0.5 ms to 5 s. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** A service's Prometheus registry: the process metrics plus what the service adds through `counter`, `gauge` and `histogram`. */
export class Metrics {
  readonly registry = new Registry();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** A counter named `rt_<name>` (`name` ends in `_total`); `collect` adds what was counted elsewhere when scraped (a hot path counts in a plain number). */
  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = [], collect?: (c: Counter<L>) => void): Counter<L> {
    return new Counter({ name: METRIC_PREFIX + name, help, labelNames, registers: [this.registry], ...(collect ? { collect() { collect(this); } } : {}) });
  }

  /** A gauge named `rt_<name>`; `collect` sets it when scraped. */
  gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = [], collect?: (g: Gauge<L>) => void): Gauge<L> {
    return new Gauge({ name: METRIC_PREFIX + name, help, labelNames, registers: [this.registry], ...(collect ? { collect() { collect(this); } } : {}) });
  }

  /** A histogram named `rt_<name>` (seconds, `LATENCY_BUCKETS` unless given). */
  histogram<L extends string = never>(name: string, help: string, labelNames: readonly L[] = [], buckets = LATENCY_BUCKETS): Histogram<L> {
    return new Histogram({ name: METRIC_PREFIX + name, help, labelNames, buckets, registers: [this.registry] });
  }

  /** A histogram named `rt_<name>` with one label, cheap to observe on a hot path (SeriesHistogram). */
  seriesHistogram(name: string, help: string, label: string, buckets: readonly number[] = LATENCY_BUCKETS): SeriesHistogram {
    const h = new SeriesHistogram(METRIC_PREFIX + name, help, label, buckets);
    this.registry.registerMetric(h as unknown as Metric);
    return h;
  }

  /** The `/metrics` answer (Prometheus text format). */
  async response(): Promise<Response> {
    return new Response(await this.registry.metrics(), { headers: { "content-type": this.registry.contentType } });
  }
}

/** The counters every service that publishes to NATS keeps, and its link state. */
export function natsMetrics(m: Metrics, connected: () => boolean): { publishFailures: Counter } {
  m.gauge("nats_connected", "1 while connected to NATS, else 0", [], (g) => g.set(connected() ? 1 : 0));
  return { publishFailures: m.counter("nats_publish_failures_total", "NATS publishes that failed (core or JetStream)") };
}

/** Seconds since `start` (a `performance.now()` reading). */
export const secondsSince = (start: number): number => (performance.now() - start) / 1000;
