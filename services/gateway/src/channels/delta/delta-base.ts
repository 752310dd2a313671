import { fossilDelta } from "./fossil.ts";

/** The bounds of one channel's delta state. */
export interface DeltaLimits {
  /** A publication's data larger than this (UTF-8 bytes of its JSON) is neither diffed nor kept as a base: it and the next go whole. */
  maxBaseBytes: number;
  /** Deltas kept for subscribers that recover (their subscribe reply carries the missed publications): how many, and their bytes (with their text). */
  recentCount: number;
  recentBytes: number;
}

export const DELTA_LIMITS: DeltaLimits = { maxBaseBytes: 64 * 1024, recentCount: 128, recentBytes: 256 * 1024 };

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

/** A Fossil delta, as bytes (Protobuf carries them) and as text (JSON carries it as a string). */
export class Delta {
  private decoded: string | null | undefined;

  constructor(readonly bytes: Uint8Array) {}

  /**
   * The delta as text (decoded once, on first use); undefined when it is not valid UTF-8 (the
   * encoder keeps characters whole, so only a target that is not valid UTF-8 has such a delta).
   */
  get text(): string | undefined {
    if (this.decoded === undefined) {
      try {
        this.decoded = fromUtf8.decode(this.bytes);
      } catch {
        this.decoded = null;
      }
    }
    return this.decoded ?? undefined;
  }

  /** What keeping it costs: its bytes, and its text once decoded (two bytes a character). */
  get size(): number {
    return this.bytes.length * 3;
  }
}

/** One publication as a channel's delta subscribers get it, prepared once for all of them and every encoding. */
export class PreparedPublication {
  private utf8Bytes: Uint8Array | undefined;

  constructor(
    /** Its data as JSON text: what a delta subscriber holds as its base once it has this publication. */
    readonly json: string,
    /** The delta from the channel's previous publication to this one; undefined when it goes whole. */
    readonly delta: Delta | undefined,
    bytes?: Uint8Array,
  ) {
    this.utf8Bytes = bytes;
  }

  /** The UTF-8 bytes of `json` (encoded once, on first use). */
  get bytes(): Uint8Array {
    return (this.utf8Bytes ??= utf8.encode(this.json));
  }
}

interface Recent {
  offset: number;
  /** The offset of the publication the delta is against. */
  baseOffset: number;
  delta: Delta;
}

/**
 * One channel's delta state: its last publication (the base of the next delta), and the deltas
 * of its recent publications. Every publication the channel fans out passes through `next`, in
 * order, whether or not a delta subscriber is there, so the base is always the publication every
 * delta subscriber got last. The delta is computed here once per publication, for every
 * subscriber and encoding, and only when asked. Memory: one base of at most `maxBaseBytes` and
 * `recentBytes` of deltas.
 */
export class DeltaBase {
  /** The last publication when its data is within the cap (a larger one is dropped: the next goes whole), and its offset. */
  private last: PreparedPublication | undefined;
  private lastOffset: number | undefined;
  private recent: Recent[] = [];
  private recentBytes = 0;

  constructor(private readonly limits: DeltaLimits = DELTA_LIMITS) {}

  /**
   * The channel's next publication: `json` is its data as JSON text, `offset` its position when
   * the channel has one. With `wantDelta`, the delta against the previous publication when both
   * are within the size cap and the delta is shorter than the data. It becomes the base.
   */
  next(json: string, offset: number | undefined, wantDelta: boolean): PreparedPublication {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: only data near the cap is measured.
    const max = this.limits.maxBaseBytes;
    const fits = json.length * 3 <= max || (json.length <= max && Buffer.byteLength(json) <= max);
    const base = wantDelta && fits ? this.baseBytes() : undefined;
    let pub: PreparedPublication;
    if (base !== undefined) {
      const bytes = utf8.encode(json);
      const delta = fossilDelta(base, bytes);
      pub = new PreparedPublication(json, delta.length < bytes.length ? new Delta(delta) : undefined, bytes);
      if (pub.delta && offset !== undefined && this.lastOffset !== undefined) this.remember({ offset, baseOffset: this.lastOffset, delta: pub.delta });
    } else {
      pub = new PreparedPublication(json, undefined);
    }
    this.last = fits ? pub : undefined;
    this.lastOffset = offset;
    return pub;
  }

  /** The last publication's data as JSON text (what a subscriber that got it holds as its base); undefined when there is none or it was over the cap. */
  get json(): string | undefined {
    return this.last?.json;
  }

  /** The delta of the publication at `offset` against the one at `baseOffset`, when it was computed and is still kept. */
  deltaOf(offset: number, baseOffset: number): Delta | undefined {
    // Recent deltas are few and in order: a reverse scan finds the newest first.
    for (let i = this.recent.length - 1; i >= 0; i--) {
      const r = this.recent[i]!;
      if (r.offset === offset) return r.baseOffset === baseOffset ? r.delta : undefined;
      if (r.offset < offset) return undefined;
    }
    return undefined;
  }

  /**
   * Forgets the base and the recent deltas: the next publication goes whole to every delta
   * subscriber. For when the channel starts over (its stream's epoch changed) or a subscriber
   * may have missed a publication.
   */
  forget(): void {
    this.last = undefined;
    this.lastOffset = undefined;
    this.recent = [];
    this.recentBytes = 0;
  }

  /** The last publication's data as UTF-8 bytes (encoded on first use: a channel without delta subscribers never encodes). */
  private baseBytes(): Uint8Array | undefined {
    return this.last?.bytes;
  }

  private remember(r: Recent): void {
    this.recent.push(r);
    this.recentBytes += r.delta.size;
    while (this.recent.length > this.limits.recentCount || this.recentBytes > this.limits.recentBytes) this.recentBytes -= this.recent.shift()!.delta.size;
  }
}
