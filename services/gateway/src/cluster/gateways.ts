import { isSafeToken } from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import type { Broker } from "../broker/broker.ts";

/** How often a gateway says it is alive, and how long silence means it is gone. */
export const HEARTBEAT_MS = 5000;
export const GONE_AFTER_MS = 15_000;
const HEARTBEAT_PREFIX = "gateway.heartbeat.";

/**
 * Which gateways are alive: each one publishes `gateway.heartbeat.<id>` every 5 s and listens to
 * the others'. A gateway silent for 15 s is gone (killed, cut off): `onGone` tells who, so what it
 * held (presence) can be let go. Its own id is the origin id of its publishes.
 */
export class GatewayRegistry {
  private readonly seen = new Map<string, number>();
  private readonly gone: Array<(id: string) => void> = [];
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(readonly id: string, private readonly broker: Broker, private readonly log: Logger, private readonly now: () => number = Date.now) {}

  start(): void {
    const beat = () => this.broker.publish(`${HEARTBEAT_PREFIX}${this.id}`, "");
    this.broker.acquire(`${HEARTBEAT_PREFIX}*`, (msg) => {
      const id = msg.subject.slice(HEARTBEAT_PREFIX.length);
      if (id === this.id || !isSafeToken(id) || id.length > 64) return;
      const fresh = !this.seen.has(id);
      this.seen.set(id, this.now());
      if (!fresh) return;
      this.log.info({ gateway: id }, "gateway joined");
      beat(); // a newcomer learns about this one at once, not within the next 5 s
    });
    this.broker.onUp(beat);
    this.timer = setInterval(() => {
      beat();
      this.expire();
    }, HEARTBEAT_MS);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The other gateways alive now. */
  get others(): number {
    return this.seen.size;
  }

  /** `fn(id)` runs when gateway `id` is gone. */
  onGone(fn: (id: string) => void): void {
    this.gone.push(fn);
  }

  /** Forgets the gateways silent for GONE_AFTER_MS (and tells). */
  expire(): void {
    const cutoff = this.now() - GONE_AFTER_MS;
    for (const [id, at] of this.seen) {
      if (at >= cutoff) continue;
      this.seen.delete(id);
      this.log.warn({ gateway: id }, "gateway gone (no heartbeat for 15 s)");
      for (const fn of this.gone) fn(id);
    }
  }
}
