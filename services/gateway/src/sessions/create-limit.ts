/**
 * Whose allowance a channel creation spends: a signed-in user's (every connection of that user
 * on this gateway), or, for an anonymous protocol client or a `/chat/` socket, its client
 * address's (every such connection from that address; a connection's own allowance would add
 * nothing, as the address's is spent by it too).
 */
export type Creator = { user: string } | { address: string };

/** One token bucket: `tokens` left at `at` (ms). */
interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets kept before the full ones (which hold nothing worth keeping) are pruned. */
const PRUNE_FROM = 1024;

/**
 * How fast rooms may be created (CHANNEL_CREATE_RATE_PER_MIN, bursts of CHANNEL_CREATE_BURST),
 * per user, or per client address for anonymous clients. A token bucket per key,
 * made on a key's first creation; buckets that filled up again are pruned once there are twice
 * as many as after the last pruning, so each creation costs O(1) amortized and memory follows
 * the keys that created something lately. Only creations ask (see RoomHub.publish): publishes
 * into rooms that have a history never reach it.
 */
export class CreateLimit {
  private readonly perMs: number;
  private readonly buckets = new Map<string, Bucket>();
  private pruneAt = PRUNE_FROM;

  /** `perMin` 0: no limit. */
  constructor(perMin: number, private readonly burst: number, private readonly now: () => number = Date.now) {
    this.perMs = perMin / 60_000;
  }

  /** False when there is no limit. */
  get on(): boolean {
    return this.perMs > 0;
  }

  /** Spends one creation of `creator`: false, and nothing spent, when its allowance is used up. */
  take(creator: Creator): boolean {
    if (!this.on) return true;
    const now = this.now();
    const b = this.bucket("user" in creator ? `u:${creator.user}` : `a:${creator.address}`, now);
    if (this.refill(b, now) < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Buckets held (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  private bucket(key: string, now: number): Bucket {
    let b = this.buckets.get(key);
    if (b) return b;
    if (this.buckets.size >= this.pruneAt) this.prune(now);
    b = { tokens: this.burst, at: now };
    this.buckets.set(key, b);
    return b;
  }

  /** Brings `b` up to `now` and returns its tokens. */
  private refill(b: Bucket, now: number): number {
    b.tokens = Math.min(this.burst, b.tokens + (now - b.at) * this.perMs);
    b.at = now;
    return b.tokens;
  }

  /** Drops the buckets that are full again (a new one would be the same). */
  private prune(now: number): void {
    for (const [key, b] of this.buckets) if (this.refill(b, now) >= this.burst) this.buckets.delete(key);
    this.pruneAt = Math.max(PRUNE_FROM, 2 * this.buckets.size);
  }
}
