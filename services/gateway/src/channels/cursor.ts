/** An event of a chained stream: its seq, the seq of the one before it on the same subject (0: none), and its stream's epoch when known. */
export interface ChainedEvent {
  seq: number;
  prev: number;
  epoch?: string | undefined;
}

/**
 * positioning: not yet placed in the stream; replaying: reading the store after `last`;
 * live: writing live events; closed: the socket is gone.
 */
export type CursorState = "positioning" | "replaying" | "live" | "closed";

/**
 * What to do with a live event: write it; skip it (already written, or the socket is closed);
 * hold it until the read under way ends; it shows a gap (read the store from `last`); or it
 * belongs to another epoch than the cursor's.
 */
export type Verdict = "write" | "skip" | "hold" | "gap" | "epoch";

/** Events held while reading, at most (count and bytes); past either, the read just goes on. */
export interface HeldLimits {
  maxEvents: number;
  maxBytes: number;
}

/**
 * Where one subscriber stands in one chained stream (a user's inbox). Pure: no I/O, no clock.
 * The rule: a live event is written when `prev <= last < seq`: nothing of the subject lies
 * between what was written last and it. At or below `last` it was written already; with
 * `prev > last` something is missing and is read from the store first. Events that arrive
 * during a read are held and judged by the same rule when it ends, so the hand-over from
 * replay to live has no duplicate and no gap.
 */
export class StreamCursor<E extends ChainedEvent> {
  state: CursorState = "positioning";
  /** The epoch `last` belongs to (undefined until positioned). */
  epoch: string | undefined;
  /** Seq of the last event written, or the position before the first to write. */
  last = 0;
  /** Bumped by every `position`: a read begun before it must start again from `last`. */
  generation = 0;
  private held: Array<{ event: E; bytes: number }> = [];
  private heldBytes = 0;
  /** An event was not held because the queue was full: the store must be read again before going live. */
  private overflowed = false;

  constructor(private readonly limits: HeldLimits) {}

  /** Judges a live event. */
  judge(e: E): Verdict {
    if (this.state === "closed") return "skip";
    if (this.state !== "live") return "hold";
    if (e.epoch !== undefined && e.epoch !== this.epoch) return "epoch";
    if (e.seq <= this.last) return "skip";
    if (e.prev > this.last) return "gap";
    return "write";
  }

  /** Places the cursor at `seq` of `epoch` (the next read starts after it) and starts replaying. */
  position(epoch: string, seq: number): void {
    if (this.state === "closed") return;
    this.epoch = epoch;
    this.last = seq;
    this.state = "replaying";
    this.generation++;
  }

  /** A gap was seen: read the store from `last` before going live again. */
  replay(): void {
    if (this.state === "live") this.state = "replaying";
  }

  /** `seq` was written. */
  wrote(seq: number): void {
    if (seq > this.last) this.last = seq;
  }

  /** Keeps a live event for when the read ends; a full queue drops it and owes another read instead. */
  hold(event: E, bytes: number): void {
    if (this.held.length >= this.limits.maxEvents || this.heldBytes + bytes > this.limits.maxBytes) {
      this.overflowed = true;
      return;
    }
    this.held.push({ event, bytes });
    this.heldBytes += bytes;
  }

  /**
   * The read reached the end of the store. Returns the held events to judge, in arrival order,
   * and goes live; or undefined when the queue overflowed, so the caller reads again first.
   */
  endReplay(): E[] | undefined {
    if (this.state !== "replaying") return [];
    if (this.overflowed) {
      this.overflowed = false;
      this.clearHeld();
      return undefined;
    }
    const events = this.held.map((h) => h.event);
    this.clearHeld();
    this.state = "live";
    return events;
  }

  /** The socket is gone: nothing is written any more and the held events are released. */
  close(): void {
    this.state = "closed";
    this.clearHeld();
  }

  /** True once the socket is gone. */
  get closed(): boolean {
    return this.state === "closed";
  }

  /** Events held now. */
  get heldCount(): number {
    return this.held.length;
  }

  private clearHeld(): void {
    this.held = [];
    this.heldBytes = 0;
  }
}
