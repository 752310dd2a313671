/** One publish held until NATS has confirmed it. */
export interface OutboxEntry {
  /** This gateway's publish sequence (one counter for every subject). */
  seq: number;
  subject: string;
  payload: string;
  /** What it counts against the byte bound. */
  bytes: number;
  /** When it was pushed (ms). */
  at: number;
}

/**
 * Why entries left the outbox before NATS confirmed them: over the byte bound, or past the age
 * bound. Some may have reached NATS all the same (sent just before a cut, never confirmed).
 */
export type DropReason = "bytes" | "age";

/** How much the outbox holds at most. */
export interface OutboxLimits {
  maxBytes: number;
  maxAgeMs: number;
}

/** Bytes an entry costs beyond its payload (subject, bookkeeping). */
const ENTRY_OVERHEAD = 64;

/**
 * Publishes held until NATS confirms them, first in first out. The NATS client drops what it was
 * given while the link was down (FIELD-NOTES), so nothing leaves the outbox when it is sent: only
 * `ack` (a PONG after it) removes it, and `rewind` after a reconnect makes everything unconfirmed
 * due again. Bounded by bytes (the oldest go first) and by age (checked when sending); every entry
 * that leaves unconfirmed is reported to `dropped`.
 */
export class Outbox {
  private q: OutboxEntry[] = [];
  private head = 0;
  /** Index in `q` of the first entry not yet sent on the current connection. */
  private next = 0;
  private held = 0;
  private seq = 0;

  constructor(
    private readonly limits: OutboxLimits,
    private readonly dropped: (reason: DropReason, count: number) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Adds a publish; evicts the oldest entries while over the byte bound. */
  push(subject: string, payload: string): OutboxEntry {
    const e: OutboxEntry = { seq: ++this.seq, subject, payload, bytes: payload.length + subject.length + ENTRY_OVERHEAD, at: this.now() };
    this.q.push(e);
    this.held += e.bytes;
    let dropped = 0;
    for (; this.held > this.limits.maxBytes && this.head < this.q.length - 1; dropped++) this.shift();
    if (dropped) this.dropped("bytes", dropped);
    this.compact();
    return e;
  }

  /** The entries not sent on this connection yet (marked sent now); entries past the age bound are dropped first. */
  takeUnsent(): OutboxEntry[] {
    this.dropAged();
    const out = this.q.slice(this.next);
    this.next = this.q.length;
    return out;
  }

  /** The newest entry's seq sent on this connection (0: none). */
  get lastSent(): number {
    return this.next > this.head ? this.q[this.next - 1]!.seq : 0;
  }

  /** NATS has everything up to `seq`: those entries are done. */
  ack(seq: number): void {
    while (this.head < this.next && this.q[this.head]!.seq <= seq) this.shift();
    this.compact();
  }

  /** A new connection: everything not confirmed must be sent again. */
  rewind(): void {
    this.next = this.head;
  }

  /** Entries held (sent or not). */
  get size(): number {
    return this.q.length - this.head;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.held;
  }

  /** True when some entry has not been sent on this connection. */
  get pending(): boolean {
    return this.next < this.q.length;
  }

  private dropAged(): void {
    const cutoff = this.now() - this.limits.maxAgeMs;
    let dropped = 0;
    for (; this.head < this.q.length && this.q[this.head]!.at < cutoff; dropped++) this.shift();
    if (dropped) this.dropped("age", dropped);
    this.compact();
  }

  /** Removes the oldest entry. */
  private shift(): void {
    const e = this.q[this.head]!;
    this.held -= e.bytes;
    this.q[this.head] = undefined as unknown as OutboxEntry;
    this.head++;
    if (this.next < this.head) this.next = this.head;
  }

  /** Reclaims the array's dead prefix once it is large. */
  private compact(): void {
    if (this.head < 1024 || this.head * 2 < this.q.length) return;
    this.q = this.q.slice(this.head);
    this.next -= this.head;
    this.head = 0;
  }
}
