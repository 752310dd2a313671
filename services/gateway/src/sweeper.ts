import { CloseCode } from "@rt/protocol";
import type { MonitorRelay } from "./monitor.ts";
import type { GatewaySocket, MonitorData } from "./socket-data.ts";

/**
 * Looks at every socket every `intervalMs`, and sooner when much has been published: a chat or
 * notification socket whose unsent output passed the limit is closed with 1013 (never a silent
 * drop); a monitor socket over it is conflated; a socket whose token expired is closed with 1008.
 *
 * No socket can gain more between two passes than what was published in between, so a pass runs
 * as soon as a quarter of the limit has been published (in UTF-16 units: at most three bytes
 * each, so under 3/4 of the limit in bytes): a stalled reader never reaches Bun's own cut-off
 * (limit + at least the limit again, 1006 without a close frame) before we close it with 1013.
 */
export class Sweeper {
  private readonly sockets = new Set<GatewaySocket>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private publishedSinceSweep = 0;
  constructor(private readonly limitBytes: number, private readonly monitor: MonitorRelay) {}

  /** Records a topic publish of `units` UTF-16 code units (counted once, however many sockets it reaches). */
  published(units: number): void {
    this.publishedSinceSweep += units;
    if (this.publishedSinceSweep >= this.limitBytes / 4) this.sweep();
  }

  add(ws: GatewaySocket): void {
    this.sockets.add(ws);
  }

  delete(ws: GatewaySocket): void {
    this.sockets.delete(ws);
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => this.sweep(), intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Sockets open now. */
  get size(): number {
    return this.sockets.size;
  }

  /** One pass over every socket. */
  sweep(): void {
    this.publishedSinceSweep = 0;
    const now = Date.now();
    for (const ws of this.sockets) {
      const d = ws.data;
      if (d.kind === "monitor") {
        this.monitor.check(ws as GatewaySocket & { data: MonitorData }, this.limitBytes);
        continue;
      }
      if (d.kind === "notifications" && d.expiresAt !== undefined && d.expiresAt <= now) {
        this.sockets.delete(ws);
        ws.close(CloseCode.PolicyViolation, "token expired");
        continue;
      }
      if (ws.getBufferedAmount() > this.limitBytes) {
        this.sockets.delete(ws);
        if (d.kind === "notifications") d.cursor.close();
        ws.close(CloseCode.TryAgainLater, "slow consumer");
      }
    }
  }
}
