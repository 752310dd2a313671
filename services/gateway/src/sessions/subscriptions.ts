import type { Opened } from "../node/subscription.ts";
import { SmallMap } from "./small-map.ts";

/** One channel of a connection: a subscribe in progress (its reply not out yet), or an open subscription. */
export type Subscription =
  | { kind: "pending"; cancelled: boolean }
  | {
      kind: "open";
      opened: Opened;
      /** The client may not unsubscribe from it (its own inbox, subscribed by the server). */
      fixed: boolean;
      /** When it expires unless renewed with `sub_refresh` (ms since the epoch; undefined: never). */
      expiresAt: number | undefined;
      /** Its channel info (from a subscription token): in its publications. */
      info: unknown;
    };

/** The open subscription of a channel. */
export type OpenSubscription = Extract<Subscription, { kind: "open" }>;

/**
 * A connection's channels (at most its channel limit, so a SmallMap): each one pending while its
 * subscribe is placed, then open until unsubscribed or the connection ends. Knows the earliest
 * expiry among them, so the sweeper's look costs one comparison while none is due.
 */
export class Subscriptions {
  private readonly map = new SmallMap<string, Subscription>();
  /** The earliest `expiresAt` of an open subscription (Infinity: none expires). */
  private nextExpiry = Infinity;

  get size(): number {
    return this.map.size;
  }

  has(channel: string): boolean {
    return this.map.has(channel);
  }

  get(channel: string): Subscription | undefined {
    return this.map.get(channel);
  }

  /** The open subscription of `channel`, if any. */
  open(channel: string): OpenSubscription | undefined {
    const s = this.map.get(channel);
    return s?.kind === "open" ? s : undefined;
  }

  /** A subscribe of `channel` starts: pending until `opened`. */
  pending(channel: string): Extract<Subscription, { kind: "pending" }> {
    const p = { kind: "pending" as const, cancelled: false };
    this.map.set(channel, p);
    return p;
  }

  /** `channel` is open now. */
  opened(channel: string, opened: Opened, opts: { fixed?: boolean; expiresAt?: number | undefined; info?: unknown } = {}): OpenSubscription {
    const s: OpenSubscription = { kind: "open", opened, fixed: opts.fixed ?? false, expiresAt: opts.expiresAt, info: opts.info };
    this.map.set(channel, s);
    if (s.expiresAt !== undefined && s.expiresAt < this.nextExpiry) this.nextExpiry = s.expiresAt;
    return s;
  }

  /** A renewed subscription expires at `expiresAt` now. */
  renewed(s: OpenSubscription, expiresAt: number | undefined): void {
    s.expiresAt = expiresAt;
    if (expiresAt !== undefined && expiresAt < this.nextExpiry) this.nextExpiry = expiresAt;
  }

  /** Takes `channel` out (its subscription is not released: the caller does that). */
  remove(channel: string): Subscription | undefined {
    const s = this.map.get(channel);
    if (s) this.map.delete(channel);
    return s;
  }

  /** Releases one subscription: an open one lets go of its channel, a pending one is cancelled. */
  static release(s: Subscription): void {
    if (s.kind === "open") s.opened.close();
    else s.cancelled = true;
  }

  /** Releases every subscription (the connection ended). */
  releaseAll(): void {
    for (const [, s] of this.map) Subscriptions.release(s);
    this.map.clear();
    this.nextExpiry = Infinity;
  }

  /** The open subscriptions that expired before `deadline` (at most one pass over them, and only when one may have). */
  *expiredBefore(deadline: number): Generator<[string, OpenSubscription]> {
    if (deadline < this.nextExpiry) return;
    let next = Infinity;
    const expired: Array<[string, OpenSubscription]> = [];
    for (const [channel, s] of this.map) {
      if (s.kind !== "open" || s.expiresAt === undefined) continue;
      if (s.expiresAt < deadline) expired.push([channel, s]);
      else if (s.expiresAt < next) next = s.expiresAt;
    }
    this.nextExpiry = next;
    yield* expired;
  }

  /** Every open subscription (for Bun's drain). */
  *openOnes(): Generator<OpenSubscription> {
    for (const [, s] of this.map) if (s.kind === "open") yield s;
  }
}
