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
  /** When it was last sent (ms; 0: not yet). */
  sentAt: number;
  /** How many times it was handed out to be sent. */
  attempts: number;
  /** Confirmed on its own, but kept until every earlier one is too (the outbox shrinks from the front). */
  acked: boolean;
  /** Told once whether it was stored (see settle); cleared when told. */
  done: Stored | undefined;
}

/** Told once: true when the stream stored the publish, false when it left unconfirmed or was not confirmed in time. */
export type Stored = (ok: boolean) => void;

/** Tells `e`'s waiter (if any, and only once) whether it was stored. */
export function settle(e: OutboxEntry, ok: boolean): void {
  const done = e.done;
  if (done === undefined) return;
  e.done = undefined;
  done(ok);
}

/**
 * Why entries left the outbox before NATS confirmed them: over the byte bound, past the age
 * bound (some may have reached NATS all the same: sent just before a cut, never confirmed), or
 * refused for good by the stream (`refused`: over its `max_msg_size`; sending it again cannot help).
 */
export type DropReason = "bytes" | "age" | "refused";

/** How much the outbox holds at most. */
export interface OutboxLimits {
  maxBytes: number;
  maxAgeMs: number;
}

/** Bytes an entry costs beyond its payload (subject, bookkeeping). */
const ENTRY_OVERHEAD = 64;

/**
 * Publishes held until the stream confirms them, first in first out. The NATS client drops what it
 * was given while the link was down (a reconnect attempt resets its outbound buffer), so nothing
 * leaves the outbox when it is sent:
 * only confirmations (`ackOne`) remove it, from the front, and `rewind` (after a reconnect, a
 * refused or a lost confirmation) makes everything unconfirmed due again. Bounded by bytes (the oldest go first) and by age (checked when sending); every entry
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

  /** Adds a publish (`done`: told whether it was stored); evicts the oldest entries while over the byte bound. */
  push(subject: string, payload: string, done?: Stored): OutboxEntry {
    const e: OutboxEntry = { seq: ++this.seq, subject, payload, bytes: payload.length + subject.length + ENTRY_OVERHEAD, at: this.now(), sentAt: 0, attempts: 0, acked: false, done };
    this.q.push(e);
    this.held += e.bytes;
    let dropped = 0;
    for (; this.held > this.limits.maxBytes && this.head < this.q.length - 1; dropped++) this.shift();
    if (dropped) this.dropped("bytes", dropped);
    this.compact();
    return e;
  }

  /** The entries not sent on this connection yet (at most `max`, oldest first; marked sent now); entries past the age bound are dropped first. */
  takeUnsent(max = Infinity): OutboxEntry[] {
    this.dropAged();
    const out: OutboxEntry[] = [];
    const now = this.now();
    while (this.next < this.q.length && out.length < max) {
      const e = this.q[this.next++]!;
      if (e.acked) continue; // known stored already (confirmStored): never sent again
      e.sentAt = now;
      e.attempts++;
      out.push(e);
    }
    return out;
  }

  /** Publish `seq` alone is confirmed (confirmations may skip one that failed): the confirmed front leaves. Returns the entry (when it was pushed, its subject), or undefined when it was not waiting. */
  ackOne(seq: number): OutboxEntry | undefined {
    return this.settleOne(seq, true);
  }

  /**
   * Publish `seq` is known to be stored (the stream's copy of it was seen: republished, or read
   * back), whether or not it was sent on this connection: it leaves as a confirmed one, and is not
   * sent again. Returns the entry, or undefined when it was not waiting.
   */
  confirmStored(seq: number): OutboxEntry | undefined {
    const first = this.q[this.head];
    if (!first || seq < first.seq) return undefined;
    const e = this.q[this.head + (seq - first.seq)];
    if (e?.seq !== seq || e.acked) return undefined;
    e.acked = true;
    settle(e, true);
    while (this.head < this.q.length && this.q[this.head]!.acked) this.shift();
    this.compact();
    return e;
  }

  /** Publish `seq` was refused for good: it leaves as a confirmed one would, reported to `dropped` as `refused`. False when it was not waiting. */
  refuse(seq: number): boolean {
    if (this.settleOne(seq, false) === undefined) return false;
    this.dropped("refused", 1);
    return true;
  }

  private settleOne(seq: number, stored: boolean): OutboxEntry | undefined {
    const first = this.q[this.head];
    if (!first || seq < first.seq) return undefined;
    const e = this.q[this.head + (seq - first.seq)];
    if (e?.seq !== seq || this.head + (seq - first.seq) >= this.next || e.acked) return undefined;
    e.acked = true;
    settle(e, stored);
    while (this.head < this.next && this.q[this.head]!.acked) this.shift();
    this.compact();
    return e;
  }

  /** When the oldest unconfirmed entry was sent (0: none is waiting). */
  get oldestSentAt(): number {
    return this.head < this.next ? this.q[this.head]!.sentAt : 0;
  }

  /** The newest entry's seq sent on this connection (0: none). */
  get lastSent(): number {
    return this.next > this.head ? this.q[this.next - 1]!.seq : 0;
  }

  /** A new connection, a failed or lost confirmation: everything not confirmed is due again, oldest first. */
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
    if (!e.acked) settle(e, false);
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
