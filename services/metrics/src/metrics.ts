import { natsMetrics, type Metrics } from "@rt/runtime";

/** What the metrics service counts, where it happens. */
export interface SampleMetrics {
  /** A sample handed to NATS. */
  published(): void;
  /** A sample that did not reach NATS: the publish threw, or NATS was disconnected (the sample was dropped). */
  publishFailed(): void;
  /** Seconds one sample took to read. */
  sampled(seconds: number): void;
}

/** The service's metrics in `m` (Prometheus): `rt_samples_published_total`, `rt_sample_duration_seconds`, `rt_nats_*`. */
export function sampleMetrics(m: Metrics, connected: () => boolean): SampleMetrics {
  const { publishFailures } = natsMetrics(m, connected);
  const published = m.counter("samples_published_total", "Samples published on NATS");
  const duration = m.histogram("sample_duration_seconds", "Seconds taken to read one sample of this host");
  return {
    published: () => published.inc(),
    publishFailed: () => publishFailures.inc(),
    sampled: (seconds) => duration.observe(seconds),
  };
}
