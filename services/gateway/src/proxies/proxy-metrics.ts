import { proxy } from "@rt/protocol";
import type { Metrics } from "@rt/runtime";
import type { Counter, Histogram } from "prom-client";
import type { ProxyFailure } from "./outcome.ts";

/** How a proxy call ended, as `rt_proxy_results_total{result}`: the backend's `ok` (a result), `error` or `disconnect`, or a failure. */
export type ProxyResultLabel = "ok" | "error" | "disconnect" | ProxyFailure;
const RESULTS: readonly ProxyResultLabel[] = ["ok", "error", "disconnect", "timeout", "no_responders", "malformed", "unavailable"];

/** Buckets (seconds) of a proxy call: 0.5 ms to 60 s (PROXY_TIMEOUT's largest). */
const PROXY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** `rt_proxy_duration_seconds{proxy}` and `rt_proxy_results_total{proxy,result}` (docs/observability.md). */
export class ProxyMetrics {
  private readonly durations: Histogram<"proxy">;
  private readonly results: Counter<"proxy" | "result">;

  constructor(m: Metrics) {
    this.durations = m.histogram("proxy_duration_seconds", "Requests to backends (proxy.* and rpc.*), from sending to the outcome, timeouts included", ["proxy"], PROXY_BUCKETS);
    this.results = m.counter("proxy_results_total", "Requests to backends by outcome: the backend's ok, error or disconnect, or timeout, no_responders, malformed, unavailable", ["proxy", "result"]);
    for (const p of proxy.PROXY_KINDS) for (const result of RESULTS) this.results.inc({ proxy: p, result }, 0);
  }

  /** One `kind` call ended as `result` after `seconds`. */
  observe(kind: proxy.ProxyName, result: ProxyResultLabel, seconds: number): void {
    this.durations.observe({ proxy: kind }, seconds);
    this.results.inc({ proxy: kind, result });
  }
}
