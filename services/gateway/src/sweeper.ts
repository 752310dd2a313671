import { CloseCode } from "@rt/protocol";
import type { MonitorRelay } from "./monitor.ts";
import type { GatewaySocket, MonitorData } from "./socket-data.ts";

/**
 * Looks at every socket every `intervalMs`: a chat or notification socket whose unsent output
 * passed the limit is closed with 1013 (never a silent drop); a monitor socket over it is
 * conflated; a socket whose token expired is closed with 1008. One timer, no per-message work.
 */
export class Sweeper {
  private readonly sockets = new Set<GatewaySocket>();
  private timer: ReturnType<typeof setInterval> | undefined;
  constructor(private readonly limitBytes: number, private readonly monitor: MonitorRelay) {}

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
        if (d.kind === "notifications") d.cursor.closed = true;
        ws.close(CloseCode.TryAgainLater, "slow consumer");
      }
    }
  }
}
