/** Origins remembered at most, and how long a silent one is kept. */
const MAX_ORIGINS = 10_000;
const ORIGIN_TTL_MS = 10 * 60_000;

/**
 * Drops repeats of another gateway's publishes. Each gateway numbers what it publishes (one
 * counter, every subject) and sends unconfirmed publishes again after a reconnect (see Outbox);
 * NATS delivers one origin's messages in order, so whatever is at or below the highest number
 * seen from that origin was delivered already. Bounded: the least recently heard origin goes first.
 */
export class OriginFilter {
  private readonly last = new Map<string, { seq: number; at: number }>();

  constructor(private readonly now: () => number = Date.now, private readonly maxOrigins = MAX_ORIGINS) {}

  /** True when `seq` from `origin` is new (and remembers it); false for a repeat. */
  accept(origin: string, seq: number): boolean {
    const now = this.now();
    const seen = this.last.get(origin);
    if (seen && now - seen.at < ORIGIN_TTL_MS && seq <= seen.seq) return false;
    this.last.delete(origin); // re-inserted last: the Map's order is least recently heard first
    this.last.set(origin, { seq, at: now });
    if (this.last.size > this.maxOrigins) this.last.delete(this.last.keys().next().value!);
    return true;
  }

  /** Origins remembered now. */
  get size(): number {
    return this.last.size;
  }
}
