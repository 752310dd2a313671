import type { Counter } from "prom-client";
import type { Logger, Metrics } from "@rt/runtime";

/**
 * Counts every rejected input by reason and logs it, at most once per reason every
 * `logEveryMs`, so a hostile client cannot fill the disk.
 */
export class Rejections {
  private readonly counter: Counter<"reason">;
  private readonly lastLogged = new Map<string, number>();
  private readonly suppressed = new Map<string, number>();
  constructor(metrics: Metrics, private readonly logEveryMs = 5000) {
    this.counter = metrics.counter("rejections_total", "Rejected inputs by reason", ["reason"]);
  }

  /** Records one rejection with `reason`; `fields` go to the log line (never secrets). */
  count(reason: string, log: Logger, fields: Record<string, unknown> = {}): void {
    this.counter.inc({ reason });
    const now = Date.now();
    const last = this.lastLogged.get(reason) ?? 0;
    if (now - last < this.logEveryMs) {
      this.suppressed.set(reason, (this.suppressed.get(reason) ?? 0) + 1);
      return;
    }
    const suppressed = this.suppressed.get(reason) ?? 0;
    this.suppressed.delete(reason);
    this.lastLogged.set(reason, now);
    log.warn({ reason, suppressed, ...fields }, "rejected");
  }
}
