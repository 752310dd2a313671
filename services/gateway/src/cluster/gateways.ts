import type { Msg } from "@nats-io/transport-node";
import { GATEWAY_HEARTBEAT_PREFIX, GATEWAY_HEARTBEAT_WILDCARD, gatewayHeartbeat, gatewayHeartbeatSubject, isSafeToken } from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import type { Broker } from "../broker/broker.ts";

/** How often a gateway says it is alive, and how long silence means it is gone (GATEWAY_HEARTBEAT_INTERVAL, GATEWAY_GONE_AFTER). */
export interface RegistryTiming {
  heartbeatMs: number;
  goneAfterMs: number;
}

interface Seen {
  at: number;
  gen: number;
}

/**
 * Which other gateways are alive: each one publishes `gateway.heartbeat.<id>` every heartbeat
 * interval (5 s by default; and at once when its NATS link comes back, with a new `gen`) and
 * listens to the others'. A gateway silent for `goneAfterMs` (15 s) is gone (killed, cut off),
 * found at the next look (one per heartbeat interval): `onGone` tells who, so what it held
 * (presence) is let go. `onChanged` tells of a gateway that is new, or whose link came back (it
 * may have missed events, and its own may have been lost). Its own id is the origin id of its
 * publishes.
 */
export class GatewayRegistry {
  private readonly seen = new Map<string, Seen>();
  private readonly goneFns: Array<(id: string) => void> = [];
  private readonly changedFns: Array<(id: string) => void> = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private gen = 0;
  private readonly decoder = new TextDecoder();

  constructor(
    readonly id: string,
    private readonly broker: Broker,
    private readonly log: Logger,
    private readonly onInvalid: () => void,
    private readonly timing: RegistryTiming,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.broker.acquire(GATEWAY_HEARTBEAT_WILDCARD, (msg) => this.heard(msg));
    let first = true;
    this.broker.onUp(() => {
      if (!first) this.gen++;
      first = false;
      // Silence while this gateway's own link was down says nothing about the others: a fresh start.
      const now = this.now();
      for (const s of this.seen.values()) s.at = now;
      this.beat();
    });
    this.timer = setInterval(() => {
      this.beat();
      this.expire();
    }, this.timing.heartbeatMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The other gateways alive now. */
  get others(): number {
    return this.seen.size;
  }

  /** True when gateway `id` is alive (as far as its heartbeats tell). */
  alive(id: string): boolean {
    return this.seen.has(id);
  }

  /** `fn(id)` runs when gateway `id` is gone. */
  onGone(fn: (id: string) => void): void {
    this.goneFns.push(fn);
  }

  /** `fn(id)` runs when gateway `id` appears, or its link came back. */
  onChanged(fn: (id: string) => void): void {
    this.changedFns.push(fn);
  }

  /** Forgets the gateways silent for longer than `goneAfterMs` (and tells); not while this gateway's own link is down. */
  expire(): void {
    if (!this.broker.connected()) return;
    const cutoff = this.now() - this.timing.goneAfterMs;
    for (const [id, s] of this.seen) {
      if (s.at >= cutoff) continue;
      this.seen.delete(id);
      this.log.warn({ gateway: id, silentMs: this.timing.goneAfterMs }, "gateway gone (no heartbeat)");
      this.tell(this.goneFns, id);
    }
  }

  private beat(): void {
    this.broker.publish(gatewayHeartbeatSubject(this.id), JSON.stringify({ gen: this.gen }));
  }

  private heard(msg: Msg): void {
    const id = msg.subject.slice(GATEWAY_HEARTBEAT_PREFIX.length);
    if (id === this.id) return;
    let gen: number | undefined;
    try {
      const value: unknown = JSON.parse(this.decoder.decode(msg.data));
      if (gatewayHeartbeat.check(value)) gen = value.gen;
    } catch {
      gen = undefined;
    }
    if (gen === undefined || !isSafeToken(id) || id.length > 64) return this.onInvalid();
    const before = this.seen.get(id);
    this.seen.set(id, { at: this.now(), gen });
    if (before && before.gen === gen) return;
    if (!before) {
      this.log.info({ gateway: id }, "gateway joined");
      this.beat(); // a newcomer learns about this one at once, not at the next heartbeat
    }
    this.tell(this.changedFns, id);
  }

  private tell(fns: Array<(id: string) => void>, id: string): void {
    for (const fn of fns) fn(id);
  }
}
