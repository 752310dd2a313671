import type { EncodingName, ProtocolPublication, PushEncoding } from "../../protocols/centrifugo/push.ts";
import { BATCH_LIMITS, type BatchLimits } from "../push-batch.ts";
import type { Sink } from "../sink.ts";
import { DELTA_LIMITS, DeltaBase, type DeltaLimits } from "./delta-base.ts";
import { deltaData, deltaFrames, type Frame, type PublicationMeta } from "./delta-frames.ts";

/**
 * The two Bun topics of a channel's delta subscribers in one encoding: `whole` for those that hold
 * no base yet (they get the next publication whole), `delta` for those that hold the channel's
 * last publication. Apart from the channel's plain topic (`enc.topic`): a delta subscriber's
 * JSON `data` is a string, a plain subscriber's a JSON value.
 */
export function deltaTopics(enc: PushEncoding, channel: string): { whole: string; delta: string } {
  const plain = enc.topic(channel);
  return { whole: `dw:${plain}`, delta: `dd:${plain}` };
}

/** A channel's delta subscribers of one encoding, and the frames held for them this turn. */
interface Audience {
  enc: PushEncoding;
  topics: { whole: string; delta: string };
  /** On the whole topic until their first publication. */
  fresh: Set<Sink>;
  /** On the delta topic: they hold the channel's last publication. */
  settled: Set<Sink>;
  wholeFrames: Frame[];
  deltaFrames: Frame[];
  bytes: number;
}

/** What a delta subscriber's subscribe reply carries when it recovered, and the base it then holds. */
export interface DeltaRecovery {
  /** The recovered publications as the reply carries them. */
  publications: ProtocolPublication[];
  /** The JSON text of the last one's data (what the subscriber holds): pass it to join(). */
  holds: string | undefined;
}

/**
 * Fossil delta fan-out for one channel on this gateway: its subscribers that negotiated
 * `delta: "fossil"`, per encoding, on two Bun topics (see deltaTopics). A publication costs one
 * delta (computed once, shared by every encoding: the encoder keeps UTF-8 characters whole, so
 * the bytes Protobuf carries are valid text for JSON) and at most two frames per encoding, each
 * serialized once and written with one topic publish per turn: never a loop over sockets per
 * publication. A subscriber's first publication goes whole (publications after it in the same
 * turn go to the whole topic as deltas); right after writing them, the subscribers on the whole
 * topic move to the delta topic, each once in its life.
 *
 * The caller keeps four promises: every publication the channel fans out here passes through
 * `publish`, in order and exactly once (with or without delta subscribers: it is the next one's
 * base); a subscriber joins right after its subscribe reply is written (join() first writes what
 * is held, which that reply covered) and leaves when it unsubscribes or its socket closes; when
 * the channel starts over (its stream's epoch changed), or a subscriber that stays may have missed
 * a publication, the caller calls `forget()`. A socket of this gateway never misses a frame and
 * stays: one whose output passes the backpressure limit is closed, not skipped.
 */
export class DeltaFanout {
  private readonly base: DeltaBase;
  private readonly audiences = new Map<EncodingName, Audience>();
  private scheduled = false;

  constructor(
    readonly channel: string,
    /** Writes one frame to a topic (Bun's `server.publish`, and whatever counts frames). */
    private readonly write: (topic: string, frame: Frame) => void,
    limits: DeltaLimits = DELTA_LIMITS,
    private readonly batch: BatchLimits = BATCH_LIMITS,
  ) {
    this.base = new DeltaBase(limits);
  }

  /**
   * The channel's next publication: `json` is `JSON.stringify` of its data (the same text for
   * recovered publications: see recovered()), `meta` its other fields. With `asDelta` (the
   * server API's `delta`, or the namespace's `delta_publish`) subscribers holding the previous
   * publication get a delta when it is smaller; else they get it whole. Frames go out at the end
   * of the turn (or when a batch is full), one per topic.
   */
  publish(json: string, meta: PublicationMeta, asDelta: boolean): void {
    let holders = 0;
    let fresh = 0;
    for (const a of this.audiences.values()) {
      // Those on the whole topic with a frame held this turn will hold the previous publication when they read this one.
      holders += a.settled.size + (a.wholeFrames.length > 0 ? a.fresh.size : 0);
      fresh += a.fresh.size;
    }
    // Always the next base; a delta only when someone holds the previous publication.
    const pub = this.base.next(json, meta.offset, asDelta && holders > 0);
    if (holders + fresh === 0) return;
    for (const a of this.audiences.values()) {
      // A burst in one turn (publications that arrived together) goes whole only first: the whole topic's next frames are deltas too.
      const freshHold = a.fresh.size > 0 && a.wholeFrames.length > 0;
      const need = { whole: a.fresh.size > 0 && !freshHold, delta: a.settled.size > 0 || freshHold };
      if (!need.whole && !need.delta) continue;
      const frames = deltaFrames(a.enc, this.channel, pub, meta, need);
      if (frames.whole !== undefined) {
        a.wholeFrames.push(frames.whole);
        a.bytes += frames.whole.length;
      }
      if (frames.delta !== undefined) {
        if (freshHold) {
          a.wholeFrames.push(frames.delta);
          a.bytes += frames.delta.length;
        }
        if (a.settled.size > 0) {
          a.deltaFrames.push(frames.delta);
          a.bytes += frames.delta.length;
        }
      }
      if (Math.max(a.wholeFrames.length, a.deltaFrames.length) >= this.batch.maxPushes || a.bytes >= this.batch.maxBytes) this.flushAudience(a);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /**
   * A delta subscriber of `enc` joins, right after its subscribe reply was written. `holds` is
   * the JSON text it holds as its base (from recovered(), when its reply carried publications):
   * when that is the channel's last publication it joins the delta topic, else the whole topic.
   */
  join(sink: Sink, enc: PushEncoding, holds?: string): void {
    this.flush();
    const a = this.audience(enc);
    if (holds !== undefined && holds === this.base.json) {
      a.settled.add(sink);
      sink.subscribe(a.topics.delta);
    } else {
      a.fresh.add(sink);
      sink.subscribe(a.topics.whole);
    }
  }

  /** A delta subscriber of `enc` leaves (unsubscribed, or its socket closed). */
  leave(sink: Sink, enc: PushEncoding): void {
    const a = this.audiences.get(enc.name);
    if (!a) return;
    if (a.fresh.delete(sink)) sink.unsubscribe(a.topics.whole);
    else if (a.settled.delete(sink)) sink.unsubscribe(a.topics.delta);
    if (a.fresh.size === 0 && a.settled.size === 0 && a.wholeFrames.length === 0 && a.deltaFrames.length === 0) this.audiences.delete(enc.name);
  }

  /** Delta subscribers here in `enc`. */
  sizeOf(enc: EncodingName): number {
    const a = this.audiences.get(enc);
    return a === undefined ? 0 : a.fresh.size + a.settled.size;
  }

  /** Delta subscribers here, every encoding. */
  get size(): number {
    let n = 0;
    for (const a of this.audiences.values()) n += a.fresh.size + a.settled.size;
    return n;
  }

  /**
   * Publications a delta subscriber of `enc` recovered (oldest first, data as JSON values), as its
   * subscribe reply carries them: the first whole, each next as the delta kept from when it was
   * fanned out here when that delta is against the one before it, whole otherwise. No delta is
   * computed here: a reconnect storm costs no more than the publications did.
   */
  recovered(pubs: readonly ProtocolPublication[], enc: EncodingName): DeltaRecovery {
    const out: ProtocolPublication[] = [];
    let holds: string | undefined;
    for (let i = 0; i < pubs.length; i++) {
      const { data, delta: _plain, ...meta } = pubs[i]!;
      const prev = i > 0 ? pubs[i - 1]!.offset : undefined;
      const delta = prev !== undefined && meta.offset !== undefined ? deltaData(enc, this.base.deltaOf(meta.offset, prev)) : undefined;
      const last = i === pubs.length - 1;
      if (delta !== undefined) {
        out.push({ data: delta, ...meta, delta: true });
        if (last) holds = JSON.stringify(data);
      } else {
        const json = JSON.stringify(data);
        out.push({ data: enc === "json" ? json : utf8.encode(json), ...meta });
        if (last) holds = json;
      }
    }
    return { publications: out, holds };
  }

  /** The channel starts over (its stream's epoch changed), or a subscriber may have missed a publication: the next one goes whole to everyone. */
  forget(): void {
    this.base.forget();
  }

  /** Writes everything held now. */
  readonly flush = (): void => {
    this.scheduled = false;
    for (const a of this.audiences.values()) this.flushAudience(a);
  };

  /**
   * Writes an audience's held frames: the delta topic's first, then the whole topic's; then the
   * subscribers that just got their first publication whole hold the last one, and move to the
   * delta topic (after its frames of this turn, which were against a base they did not have).
   */
  private flushAudience(a: Audience): void {
    if (a.deltaFrames.length > 0) this.write(a.topics.delta, a.deltaFrames.length === 1 ? a.deltaFrames[0]! : a.enc.join(a.deltaFrames));
    const wrote = a.wholeFrames.length > 0;
    if (wrote) this.write(a.topics.whole, a.wholeFrames.length === 1 ? a.wholeFrames[0]! : a.enc.join(a.wholeFrames));
    a.deltaFrames = [];
    a.wholeFrames = [];
    a.bytes = 0;
    if (!wrote) return;
    for (const sink of a.fresh) {
      sink.unsubscribe(a.topics.whole);
      sink.subscribe(a.topics.delta);
      a.settled.add(sink);
    }
    a.fresh.clear();
  }

  private audience(enc: PushEncoding): Audience {
    let a = this.audiences.get(enc.name);
    if (!a) {
      a = { enc, topics: deltaTopics(enc, this.channel), fresh: new Set(), settled: new Set(), wholeFrames: [], deltaFrames: [], bytes: 0 };
      this.audiences.set(enc.name, a);
    }
    return a;
  }
}

const utf8 = new TextEncoder();
