import type { Counter } from "prom-client";
import { LogLimiter, type Logger, type Metrics } from "@rt/runtime";

/**
 * Counts every rejected input by reason and logs it, at most once per reason every
 * `logEveryMs`, so a hostile client cannot fill the disk.
 */
export class Rejections {
  private readonly counter: Counter<"reason">;
  private readonly logs: LogLimiter;
  constructor(metrics: Metrics, logEveryMs = 5000) {
    this.counter = metrics.counter("rejections_total", "Rejected inputs by reason", ["reason"]);
    this.logs = new LogLimiter(logEveryMs);
  }

  /** Records one rejection with `reason`; `fields` go to the log line (never secrets). */
  count(reason: string, log: Logger, fields: Record<string, unknown> = {}): void {
    this.counter.inc({ reason });
    this.logs.warn(log, { reason, ...fields }, "rejected", reason);
  }
}
