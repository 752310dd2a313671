import type { GatewaySocket } from "../protocols/socket-data.ts";

/**
 * Looks at every socket every `intervalMs`, and sooner when much has been published: each
 * socket's protocol adapter decides (a slow reader is closed or conflated, an expired token
 * closes, a protocol ping is due).
 *
 * No socket can gain more between two passes than what was published in between, so a pass runs
 * as soon as a quarter of the limit has been published (in UTF-16 units: at most three bytes
 * each, so under 3/4 of the limit in bytes): a stalled reader never reaches Bun's own cut-off
 * (limit + at least the limit again, 1006 without a close frame) before its adapter closes it.
 */
export class Sweeper {
  private readonly sockets = new Set<GatewaySocket>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private publishedSinceSweep = 0;
  constructor(private readonly limitBytes: number, private readonly look: (ws: GatewaySocket, now: number) => void) {}

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

  /** Every socket open now (for shutdown). */
  all(): GatewaySocket[] {
    return [...this.sockets];
  }

  /** One pass over every socket. */
  sweep(): void {
    this.publishedSinceSweep = 0;
    const now = Date.now();
    for (const ws of this.sockets) this.look(ws, now);
  }
}
