import { headers as natsHeaders, type Msg } from "@nats-io/transport-node";
import { isOwnStoredForm, isStoredForm, LIVE_ONLY_HEADER, legacyText, maxStoredPublicationBytes, readRoomPayload, roomFrame, streamLeaderElectedSubject, type RoomPublication } from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import type { Broker } from "../broker/broker.ts";
import { headerFields } from "../broker/header-fields.ts";
import type { Stored } from "../broker/outbox.ts";
import { MSG_ID_HEADER, ORIGIN_HEADER, ORIGIN_SEQ_HEADER, type StreamPublishing } from "../broker/stream-publisher.ts";
import { NO_COUNTERS, type GatewayCounters } from "../metrics.ts";
import type { Rejections } from "../rejections.ts";
import type { CreateLimit, Creator } from "../sessions/create-limit.ts";
import { StreamCursor, type ChainedEvent } from "./cursor.ts";
import type { ChannelStore, StoredPublication } from "./channel-store.ts";
import { legacyRoomTopic, type Audience, type HistoryHub, type HistoryPage, type HistoryQuery, type Position, type PublishRefusal, type Recovery } from "./hub.ts";
import { StreamMissingError } from "./stream-get.ts";
import type { StreamEpoch } from "./stream-epoch.ts";
import { PushBatcher } from "./push-batch.ts";
import { SyncTask } from "./sync-task.ts";
import { DeltaChannels } from "./delta/delta-channels.ts";
import { noneYet, type EncodingName, type PerEncoding, type ProtocolPublication, type PushEncoding } from "../protocols/centrifugo/push.ts";
import type { TopicPublisher } from "./sink.ts";

/** One publication of a channel as this gateway fans it out. */
export interface StreamEvent extends ChainedEvent {
  /** The gateway process that published it. */
  origin: string;
  /** Its publisher's id for it (`Nats-Msg-Id`; "" when it has none): a copy stored again under another offset has the same. */
  id: string;
  /** Its payload as stored; read (and validated) only when someone here needs a frame of it. */
  raw: Uint8Array;
  /** The payload read: a publication, null when it is not a valid one, undefined until read. */
  pub: RoomPublication | null | undefined;
  /** The payload as text when it is a stored form a JSON push may carry as it is (isStoredForm): this gateway's own publication, or one read. */
  text?: string;
  /** The server API's `skip_history`: not stored, no seq (`seq` and `prev` are 0); fanned out in arrival order, never kept in the ring. */
  liveOnly?: true;
}

const utf8 = new TextEncoder();
/** The headers of a live-only publication (one object for all: never changed). */
const LIVE_ONLY_HEADERS = (() => {
  const h = natsHeaders();
  h.set(LIVE_ONLY_HEADER, "1");
  return h;
})();

/** The headers a republished publication is read by. */
const REPUBLISHED = ["Nats-Stream", "Nats-Sequence", "Nats-Last-Sequence", ORIGIN_HEADER, ORIGIN_SEQ_HEADER, MSG_ID_HEADER] as const;
/** The header of a server API publication with `skip_history` (read only on a message without the stream's headers). */
const LIVE_ONLY_FIELDS = [LIVE_ONLY_HEADER] as const;

/** Publications kept per channel for subscribers that join or recover (the hand-over from a store read to live): count and bytes. */
const RING_SIZE = 128;
const RING_BYTES = 256 * 1024;
/** How long a subscribe waits for the channel to be placed in its stream. */
const LIVE_TIMEOUT_MS = 5000;
/** Publications held while a gap is read from the stream (a burst must fit: the stream keeps only ROOM_HISTORY_SIZE to read back). */
const HELD = { maxEvents: 8192, maxBytes: 8 * 1024 * 1024 };
/**
 * The stream's republished copies can arrive out of order under load (nats-server 2.9.10: up to
 * hundreds of positions and ~20 ms late, seen here): a publication that shows a gap waits this long,
 * with those after it, for the missing one before the gap is read from the stream.
 */
const REORDER_MS = 500;
const REORDER_LIMIT = { maxEvents: 8192, maxBytes: 8 * 1024 * 1024 };

interface ChannelState {
  channel: string;
  /** `chat:<room>`: the room of its `/chat/{room}` sockets (undefined in other namespaces). */
  room: string | undefined;
  legacyTopic: string | undefined;
  /** Where the stream republishes it. */
  live: string;
  holders: number;
  cursor: StreamCursor<StreamEvent>;
  /** Its catch-up job: placing the channel, reading gaps and what a reconnect may have hidden. */
  sync: SyncTask;
  /** The last publications fanned out (at most RING_SIZE and RING_BYTES), oldest first: a chain, each one's prev is the one before. */
  ring: StreamEvent[];
  ringBytes: number;
  /** The ring's publications by id (`Nats-Msg-Id`): a later copy of one of them is not written again. */
  ids: Map<string, number>;
  /** Holders by audience: no frame is built for an audience that is not here. */
  legacy: number;
  subscribers: PerEncoding;
  /** The channel's Bun topic per encoding, built once (not per publication, not per subscriber). */
  topics: Record<EncodingName, string>;
  /** Waiting for the cursor to go live. */
  waiters: Array<() => void>;
  /** Recoveries waiting for the cursor to reach the offset their client saw elsewhere. */
  reachers: Array<{ offset: number; done: () => void }>;
  /** Publications that came early, keyed by their `prev`: each is written once the one before it is. */
  early: Map<number, StreamEvent>;
  earlyBytes: number;
  earlyTimer: ReturnType<typeof setTimeout> | undefined;
  /** A publish into the channel while it had nothing stored (as this gateway saw it) was counted as its creation. */
  created: boolean;
  /**
   * The link dropped since the cursor was last known complete: what the stream republished meanwhile
   * never came, so a gap is read at once (no REORDER_MS wait), and the channel's top is checked for
   * a tail that no later publication would reveal.
   */
  missed: boolean;
  /** Live-only publications that arrived while early ones wait for a gap: written after them, in arrival order. */
  afterEarly: StreamEvent[];
}

/**
 * The channels of one stream across gateways: `chat` rooms (ROOMS), or the channels of another
 * namespace with history (its own stream). A publication (a protocol publish, or a `/chat/{room}`
 * text frame) is published by its gateway into the stream (through the confirmed outbox); the
 * stream stores it and republishes it to every gateway with its offset and the channel's previous
 * offset. Each gateway keeps one StreamCursor per channel it serves and fans each publication out
 * with Bun's topic publish, serialized once per encoding: exactly once, in the stream's order, gaps
 * read back from the stream. In `chat`, a text publication also reaches its own gateway's
 * `/chat/{room}` sockets at once, so they are served while NATS is away.
 */
export class StreamHub implements HistoryHub {
  private readonly channels = new Map<string, ChannelState>();
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  /** Reads of a channel's last offset in flight, shared (see top). */
  private readonly tops = new Map<string, Promise<number>>();
  /** Store reads in flight per channel, shared by the recoveries they cover (see readAfter). */
  private readonly reads = new Map<string, { from: number; entries: Promise<StoredPublication[]> }>();
  /** Protocol pushes of one turn, one frame per channel and encoding. */
  private readonly batch = new PushBatcher((topic, frame) => this.topicPublish(topic, frame));
  readonly deltas = new DeltaChannels((topic, frame) => this.topicPublish(topic, frame));
  private failures = { count: 0, at: 0 };
  /** The largest stored publication relayed: maxStoredPublicationBytes(MAX_MESSAGE_BYTES). */
  private readonly maxStoredBytes: number;
  /** Publications kept per channel (the stream's `max_msgs_per_subject`): the most a history or a recovery reads. */
  private readonly historySize: number;
  /** The namespace, as metrics label it. */
  private readonly namespace: string;

  constructor(
    private readonly server: () => TopicPublisher,
    private readonly broker: Broker,
    private readonly store: ChannelStore,
    private readonly epoch: StreamEpoch,
    private readonly publisher: StreamPublishing,
    /** The client protocol's encodings (a publication is serialized once for each one that has subscribers here). */
    private readonly encodings: readonly PushEncoding[],
    maxMessageBytes: number,
    private readonly rejections: Rejections,
    private readonly log: Logger,
    /** Told the size of every topic publish (the sweeper's trigger). */
    private readonly published: (bytes: number) => void,
    /** How fast channels may be created (a publish into a channel with nothing stored). */
    private readonly createLimit: CreateLimit,
    private readonly counters: GatewayCounters = NO_COUNTERS,
  ) {
    this.maxStoredBytes = maxStoredPublicationBytes(maxMessageBytes);
    this.historySize = store.stream.limits.size;
    this.namespace = store.stream.namespace;
    broker.onUp(() => {
      for (const st of this.channels.values()) {
        st.missed = true;
        void this.sync(st);
      }
    });
    // A new leader of this stream: reads that failed while it had none go again now, not after their backoff.
    broker.acquire(streamLeaderElectedSubject(store.stream.name), () => {
      for (const st of this.channels.values()) if (st.cursor.state !== "live" || st.missed) void this.sync(st);
    });
    epoch.onChange((e) => this.epochChanged(e));
  }

  join(channel: string, audience: Audience): void {
    const st = this.channels.get(channel);
    if (st) {
      st.holders++;
      this.count(st, audience, 1);
      return;
    }
    const room = this.store.stream.room(channel);
    const fresh: ChannelState = {
      channel,
      room,
      legacyTopic: room === undefined ? undefined : legacyRoomTopic(room),
      live: this.store.stream.liveSubject(channel),
      holders: 1,
      cursor: new StreamCursor(HELD),
      sync: new SyncTask(() => this.syncOnce(fresh), () => fresh.cursor.closed, (err) => {
        this.countFailure(err);
        return err instanceof StreamMissingError ? 1000 : "backoff";
      }),
      ring: [],
      ringBytes: 0,
      ids: new Map(),
      legacy: 0,
      subscribers: noneYet(),
      topics: Object.fromEntries(this.encodings.map((enc) => [enc.name, enc.topic(channel)])) as Record<EncodingName, string>,
      waiters: [],
      reachers: [],
      early: new Map(),
      earlyBytes: 0,
      earlyTimer: undefined,
      created: false,
      missed: false,
      afterEarly: [],
    };
    this.count(fresh, audience, 1);
    this.channels.set(channel, fresh);
    this.broker.acquire(fresh.live, (msg) => this.fromNats(fresh, msg));
    void this.sync(fresh);
  }

  leave(channel: string, audience: Audience): void {
    const st = this.channels.get(channel);
    if (!st) return;
    this.count(st, audience, -1);
    if (--st.holders > 0) return;
    this.channels.delete(channel);
    st.cursor.close();
    st.sync.stop();
    this.clearEarly(st);
    this.broker.release(st.live);
  }

  /**
   * A client of this gateway (`creator`) publishes `data` on `channel`, stored as `payload` (its
   * RoomPublication as JSON, `roomPayload`, serialized once by the caller, which checked its size by
   * its path's rule in limits.ts: what is stored here the gateways relay); undefined once it is
   * taken (queued for the stream), or why not. A publish into a channel that has nothing stored, as
   * this gateway sees it (not placed yet, or placed at offset 0, and nothing written since), creates
   * the channel: the first such publish spends one of the creator's creations (CreateLimit).
   * Channels with a history never ask: one comparison on the hot path.
   */
  publish(channel: string, data: unknown, payload: string, creator: Creator, skipHistory = false, stored?: Stored): PublishRefusal | undefined {
    if (skipHistory) {
      const refused = this.publishLiveOnly(channel, data, payload);
      if (refused === undefined) stored?.(true);
      return refused;
    }
    const st = this.channels.get(channel);
    if (!st || (st.cursor.last === 0 && !st.created)) {
      if (!this.createLimit.take(creator)) {
        this.rejections.count("channel_create_rate", this.log, { channel });
        return "create_rate";
      }
      if (st) st.created = true;
    }
    const room = this.store.stream.room(channel);
    const text = room === undefined ? undefined : legacyText(data);
    // Its own `/chat/{room}` sockets at once (also while NATS is away); everyone else from the stream.
    if (text !== undefined) this.topicPublish(legacyRoomTopic(room!), roomFrame(room!, text));
    this.publisher.publish(this.store.stream.storeSubject(channel), payload, stored);
    this.counters.messageIn(this.namespace);
    return undefined;
  }

  /**
   * A publication that is not stored (a publish proxy's `skip_history`): onto the subject the stream
   * republishes on, marked LIVE_ONLY_HEADER, as the server API's `skip_history` is, for the other
   * gateways; to this gateway's subscribers at once (this connection gets none of its own messages
   * back). It creates nothing, so it spends no creation allowance. `unavailable` while NATS is away.
   */
  private publishLiveOnly(channel: string, data: unknown, payload: string): PublishRefusal | undefined {
    if (!this.broker.publish(this.store.stream.liveSubject(channel), payload, LIVE_ONLY_HEADERS)) {
      this.rejections.count("nats_publish_unavailable", this.log, { channel });
      return "unavailable";
    }
    const room = this.store.stream.room(channel);
    const text = room === undefined ? undefined : legacyText(data);
    if (text !== undefined) this.topicPublish(legacyRoomTopic(room!), roomFrame(room!, text));
    this.counters.messageIn(this.namespace);
    const st = this.channels.get(channel);
    if (st) this.offerLiveOnly(st, { seq: 0, prev: 0, origin: "", id: "", raw: utf8.encode(payload), pub: undefined, liveOnly: true });
    return undefined;
  }

  private count(st: ChannelState, audience: Audience, by: number): void {
    if (audience === "legacy") st.legacy += by;
    else st.subscribers[audience] += by;
  }

  get size(): number {
    return this.channels.size;
  }

  get holders(): number {
    let n = 0;
    for (const st of this.channels.values()) n += st.holders;
    return n;
  }

  *holdersByChannel(): Generator<[string, number]> {
    for (const st of this.channels.values()) yield [st.channel, st.holders];
  }

  /**
   * Where a protocol subscriber of `channel` starts (it must be joined). With `recover`, the
   * publications after the client's offset when all are still kept and the epoch matches. Resolves
   * at a point where the caller must, synchronously, send the reply and subscribe the socket to the
   * channel's topic: every later publication then reaches it through the topic, none twice.
   */
  async position(channel: string, recover: Recovery | undefined): Promise<Position> {
    const pos = await this.place(channel, recover);
    if (recover) this.counters.recovery(this.namespace, pos.recovered);
    return pos;
  }

  private async place(channel: string, recover: Recovery | undefined): Promise<Position> {
    const st = await this.live(channel);
    // A client that saw more of the channel on another gateway than this one has fanned out yet: wait
    // until this one has, or the reply would place it behind what it has, and the topic repeat it.
    if (recover && recover.epoch === st.cursor.epoch && recover.offset > st.cursor.last) await this.reach(st, recover.offset);
    const epoch = st.cursor.epoch!;
    if (!recover || recover.epoch !== epoch || recover.offset > st.cursor.last) return { epoch, offset: st.cursor.last, recovered: false, publications: [] };
    if (recover.offset === st.cursor.last) return { epoch, offset: st.cursor.last, recovered: true, publications: [] };
    // The ring first: when it reaches back to the offset, nothing needs the stream (a reconnect storm recovers from memory).
    const recent = this.ringAfter(st, recover.offset);
    if (recent) return { epoch, offset: st.cursor.last, recovered: true, publications: recent };
    if (!(await this.stillKept(channel, recover.offset))) return { epoch, offset: st.cursor.last, recovered: false, publications: [] };
    let read: ProtocolPublication[] = [];
    const seen = new Set<string>();
    let after = recover.offset;
    for (;;) {
      // Synchronously from here to the return: the ring covers what came after the last read? The
      // read may have gone past what this gateway has fanned out (the stream is ahead of its
      // cursor): those come through the topic, so the reply stops at the cursor, its offset.
      const tail = this.ringAfter(st, after);
      if (tail) return { epoch, offset: st.cursor.last, recovered: true, publications: [...upTo(read, st.cursor.last), ...tail] };
      const more = await this.readAfter(channel, after);
      if (st.cursor.epoch !== epoch) return { epoch: st.cursor.epoch!, offset: st.cursor.last, recovered: false, publications: [] };
      read = [...read, ...this.firstCopies(st, more, seen).map(toProtocol)];
      if (more.length === 0) return { epoch, offset: st.cursor.last, recovered: true, publications: upTo(read, st.cursor.last) };
      after = more.at(-1)!.seq;
    }
  }

  /**
   * `pos` (from position()) brought up to now, synchronously, for a caller that places several
   * channels before one reply: what the channel wrote since is added when the client recovers, and
   * the offset moves on. When the ring no longer reaches back that far (or the epoch changed), the
   * recovery is reported as failed at the current position.
   */
  catchUp(channel: string, pos: Position, recovering: boolean): Position {
    const st = this.channels.get(channel);
    if (!st || st.cursor.last === pos.offset) return pos;
    const now = { epoch: st.cursor.epoch!, offset: st.cursor.last };
    if (!recovering) return { ...now, recovered: false, publications: [] };
    const tail = st.cursor.epoch === pos.epoch ? this.ringAfter(st, pos.offset) : undefined;
    return tail ? { ...now, recovered: pos.recovered, publications: [...pos.publications, ...tail] } : { ...now, recovered: false, publications: [] };
  }

  /** The `history` command: kept publications, oldest first (or newest first with `reverse`). */
  async history(channel: string, opts: HistoryQuery): Promise<HistoryPage> {
    const epoch = await this.currentEpoch();
    const offset = await this.store.top(channel);
    if (opts.limit === 0) return { epoch, offset, publications: [] };
    const max = opts.limit < 0 ? this.historySize : Math.min(opts.limit, this.historySize);
    if (!opts.reverse) return { epoch, offset, publications: (await this.store.after(channel, opts.sinceOffset ?? 0, max)).map(toProtocol) };
    const all = await this.store.after(channel, 0, this.historySize);
    const before = opts.sinceOffset === undefined ? all : all.filter((p) => p.seq < opts.sinceOffset!);
    return { epoch, offset, publications: before.reverse().slice(0, max).map(toProtocol) };
  }

  /** The stream's epoch, once known. */
  async currentEpoch(): Promise<string> {
    if (this.epoch.current === undefined) await this.epoch.refresh();
    const e = this.epoch.current;
    if (e === undefined) throw new StreamMissingError(`the ${this.store.stream.name} stream is not there (yet)`);
    return e;
  }

  /**
   * The channel's stored publications after `after` (at most its history size). Recoveries of one
   * channel at once (clients of a gateway that died, all coming back here) share a read in flight
   * that began at or before their offset, each taking what lies after its own; a shared read that
   * holds nothing past it proves nothing (it may have begun before the latest were stored), so
   * then this one reads for itself.
   */
  private async readAfter(channel: string, after: number): Promise<StoredPublication[]> {
    const shared = this.reads.get(channel);
    if (shared && shared.from <= after + 1) {
      const mine = (await shared.entries).filter((e) => e.seq > after);
      if (mine.length > 0) return mine;
    }
    const read = { from: after + 1, entries: this.store.after(channel, after, this.historySize) };
    this.reads.set(channel, read);
    try {
      return await read.entries;
    } finally {
      if (this.reads.get(channel) === read) this.reads.delete(channel);
    }
  }

  /** The stored publications that are not a later copy of one written here or read before (`seen`, added to). */
  private firstCopies(st: ChannelState, entries: StoredPublication[], seen: Set<string>): StoredPublication[] {
    return entries.filter((e) => {
      if (e.id === "") return true;
      if (seen.has(e.id) || this.repeated(st, e.id, e.seq)) return false;
      seen.add(e.id);
      return true;
    });
  }

  /**
   * True when `offset` of `channel` is still stored, so everything after it is too (per-subject
   * limits trim oldest first); throws (a temporary error for the client) when the stream misses it
   * while keeping older ones of the channel (a new leader catching up after a node loss).
   */
  private async stillKept(channel: string, offset: number): Promise<boolean> {
    if (offset > 0) {
      const kept = await this.store.kept(channel, offset);
      // Not `recovered: false` for what the stream still holds: the client asks again (100 is temporary).
      if (kept === "missing") throw new Error(`the ${this.store.stream.name} stream's leader does not hold offset ${offset} of ${channel} yet, though it keeps older ones`);
      return kept === "kept";
    }
    // Offset 0 (nothing seen yet): nothing can have been trimmed while fewer than the limit are kept.
    return (await this.store.after(channel, 0, this.historySize)).length < this.historySize;
  }

  /** The ring's publications after `offset`, or undefined when the ring does not reach back that far. */
  private ringAfter(st: ChannelState, offset: number): ProtocolPublication[] | undefined {
    if (offset >= st.cursor.last) return [];
    const first = st.ring[0];
    if (!first || first.prev > offset) return undefined;
    const out: ProtocolPublication[] = [];
    for (const e of st.ring) {
      const pub = e.seq > offset ? this.read(st, e) : null;
      if (pub) out.push(toProtocol({ seq: e.seq, pub }));
    }
    return out;
  }

  /**
   * Resolves once the channel's cursor here has fanned out `offset`, when the stream holds it (a
   * position the stream never reached cannot be recovered: it resolves at once and place() says
   * so); rejects after LIVE_TIMEOUT_MS.
   */
  private async reach(st: ChannelState, offset: number): Promise<void> {
    if (offset > (await this.top(st.channel, offset))) return;
    if (st.cursor.last >= offset) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        st.reachers = st.reachers.filter((r) => r !== waiter);
        reject(new Error("the channel did not reach the client's offset in time"));
      }, LIVE_TIMEOUT_MS);
      const waiter = {
        offset,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      st.reachers.push(waiter);
    });
  }

  /**
   * The channel's last offset in the stream. Recoveries of one channel at once (a reconnect storm onto a
   * lagging gateway) share a read in flight; one that read less than `atLeast` proves nothing (it
   * may have begun before that offset was stored), so then this one reads for itself.
   */
  private async top(channel: string, atLeast: number): Promise<number> {
    const shared = this.tops.get(channel);
    if (shared) {
      const top = await shared.catch(() => -1);
      if (top >= atLeast) return top;
    }
    const read = this.store.top(channel);
    this.tops.set(channel, read);
    try {
      return await read;
    } finally {
      if (this.tops.get(channel) === read) this.tops.delete(channel);
    }
  }

  /** Resolves with the channel once its cursor is live here (joined and placed in the stream). */
  private live(channel: string): Promise<ChannelState> {
    const st = this.channels.get(channel);
    if (!st) return Promise.reject(new Error(`channel ${channel} is not joined`));
    if (st.cursor.state === "live" || st.cursor.state === "replaying") return Promise.resolve(st);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the channel's stream did not answer in time")), LIVE_TIMEOUT_MS);
      st.waiters.push(() => {
        clearTimeout(timer);
        resolve(st);
      });
    });
  }

  private sync(st: ChannelState): Promise<void> {
    return st.sync.run();
  }

  /** Places the channel at its stream's top (first time), then reads what the cursor misses and goes live. */
  private async syncOnce(st: ChannelState): Promise<void> {
    const c = st.cursor;
    if (!this.broker.connected()) return; // onUp resumes
    if (c.state === "positioning") {
      const epoch = await this.currentEpoch();
      const top = await this.store.top(st.channel);
      if (c.state !== "positioning") return;
      c.position(epoch, top);
    } else if (c.state === "live" && st.missed) {
      // A reconnect: the cursor stays live (the stream's next republished publication shows a gap, if
      // any, and that is read at once); only a tail no later publication reveals needs this look.
      const last = c.last;
      const top = await this.store.top(st.channel);
      if (c.state === "live" && c.last === last) {
        if (top > c.last) c.replay();
        else st.missed = false;
      }
    }
    while (c.state === "replaying") {
      const generation = c.generation;
      let atEnd = true;
      for await (const entry of this.store.read(st.channel, c.last + 1)) {
        if (c.generation !== generation || c.state !== "replaying") {
          atEnd = false;
          break;
        }
        // This gateway's own, read back (its republished copy was lost, or came while the link was
        // down): stored, so the outbox must not send it again (a repeat nats-server may store twice).
        if (entry.origin === this.publisher.origin) this.publisher.confirmed(entry.originSeq);
        this.fanOut(st, { seq: entry.seq, prev: c.last, origin: entry.origin, id: entry.id, raw: entry.raw, pub: entry.pub });
      }
      if (c.generation !== generation) continue;
      if (c.state !== "replaying") return;
      if (atEnd) {
        st.missed = false;
        this.goLive(st);
      }
    }
  }

  private goLive(st: ChannelState): void {
    const c = st.cursor;
    const held = c.endReplay();
    if (!held) return;
    for (const e of held) {
      this.offer(st, e);
      if (c.state !== "live") return;
    }
    const waiters = st.waiters;
    st.waiters = [];
    for (const w of waiters) w();
  }

  /** The stream was created anew: every channel starts over at 0 of the new life (its publications are all new). */
  private epochChanged(epoch: string | undefined): void {
    if (epoch === undefined) return;
    for (const st of this.channels.values()) {
      if (st.cursor.state !== "positioning" && st.cursor.epoch !== epoch) {
        st.cursor.position(epoch, 0);
        st.ring = [];
        st.ringBytes = 0;
        st.ids.clear();
        this.deltas.forget(st.channel);
        this.clearEarly(st);
        // Recoveries waiting for an offset of the old life: place() answers them (not recovered) now.
        for (const r of st.reachers.splice(0)) r.done();
      }
      void this.sync(st);
    }
  }

  /**
   * A publication the stream republished: its headers checked now, its payload when a frame of it
   * is needed. Or one the server API published with `skip_history` (LIVE_ONLY_HEADER, no stream
   * headers): not stored, so it has no seq.
   */
  private fromNats(st: ChannelState, msg: Msg): void {
    const h = headerFields(msg, REPUBLISHED);
    if (h?.["Nats-Stream"] === "" && headerFields(msg, LIVE_ONLY_FIELDS)?.[LIVE_ONLY_HEADER] === "1" && msg.data.byteLength <= this.maxStoredBytes) {
      return this.offerLiveOnly(st, { seq: 0, prev: 0, origin: "", id: "", raw: msg.data.slice(), pub: undefined, liveOnly: true });
    }
    const seq = Number(h?.["Nats-Sequence"]);
    const prev = Number(h?.["Nats-Last-Sequence"]);
    if (h?.["Nats-Stream"] !== this.store.stream.name || !Number.isSafeInteger(seq) || seq < 1 || !Number.isSafeInteger(prev) || prev < 0 || prev >= seq || msg.data.byteLength > this.maxStoredBytes) {
      this.rejections.count("nats_room_payload", this.log, { channel: st.channel });
      return;
    }
    // This gateway's own publish, stored: that confirms it to the outbox (its first send asks for no ack).
    const mine = h[ORIGIN_HEADER] === this.publisher.origin ? this.publisher.confirmed(h[ORIGIN_SEQ_HEADER]) : undefined;
    // A copy: the client's message is a view of its read buffer, which the ring must not keep alive.
    const e: StreamEvent = { seq, prev, origin: h[ORIGIN_HEADER], id: h[MSG_ID_HEADER], raw: msg.data.slice(), pub: undefined };
    // What this gateway published (roomPayload's text, no delta flag) and the stream stored as it was: no parse needed to push it.
    if (mine !== undefined && mine.length === e.raw.byteLength && isOwnStoredForm(mine) && this.textOf(e.raw) === mine) e.text = mine;
    this.offer(st, e);
  }

  /** UTF-8 bytes as text, undefined when they are not UTF-8. */
  private textOf(raw: Uint8Array): string | undefined {
    try {
      return this.decoder.decode(raw);
    } catch {
      return undefined;
    }
  }

  /** The publication of `e`, read and validated once (null, and counted, when it is not one). */
  private read(st: ChannelState, e: StreamEvent): RoomPublication | null {
    if (e.pub === undefined) {
      const text = this.textOf(e.raw);
      const pub = text === undefined ? undefined : readRoomPayload(text);
      if (pub && e.text === undefined && isStoredForm(text!, pub)) e.text = text;
      e.pub = pub ?? null;
      if (!pub) this.rejections.count("nats_room_payload", this.log, { channel: st.channel, seq: e.seq });
    }
    return e.pub;
  }

  /**
   * A live-only publication: written now when the channel is live and nothing waits before it;
   * held with the stream's publications while the stream is read (written in arrival order when the
   * read ends), or after the early ones while they wait for a gap. Lost when the held publications
   * overflow (the stream's are read again, a live-only one cannot be): at most once.
   */
  private offerLiveOnly(st: ChannelState, e: StreamEvent): void {
    const c = st.cursor;
    if (c.state === "closed") return;
    if (c.state !== "live") return c.hold(e, e.raw.byteLength);
    if (st.early.size > 0) {
      st.afterEarly.push(e);
      return;
    }
    this.fanOut(st, e);
  }

  private offer(st: ChannelState, e: StreamEvent): void {
    if (e.liveOnly) return this.offerLiveOnly(st, e);
    const c = st.cursor;
    // The first publication the stream republishes to us places the channel: everything before it
    // (its `prev` and older) was published before this gateway joined. No store read, so a busy
    // channel is live at once; a quiet one is placed by the store's top (syncOnce) instead.
    if (c.state === "positioning" && this.epoch.current !== undefined) {
      c.position(this.epoch.current, e.prev);
      this.goLive(st);
    }
    switch (c.judge(e)) {
      case "write":
        this.fanOut(st, e);
        return this.writeEarly(st);
      case "hold":
        return c.hold(e, e.raw.byteLength);
      case "gap":
        return this.early(st, e);
      default:
        return; // a duplicate (or the missing one of a gap already read from the stream), or the channel left
    }
  }

  /** A publication ahead of a gap: kept until the missing one arrives, or read from the stream after REORDER_MS. */
  private early(st: ChannelState, e: StreamEvent): void {
    st.early.set(e.prev, e);
    st.earlyBytes += e.raw.byteLength;
    if (st.missed || st.early.size > REORDER_LIMIT.maxEvents || st.earlyBytes > REORDER_LIMIT.maxBytes) return this.readGap(st);
    st.earlyTimer ??= setTimeout(() => this.readGap(st), REORDER_MS);
  }

  /** Writes the early publications that now follow on. */
  private writeEarly(st: ChannelState): void {
    for (let next = st.early.get(st.cursor.last); next && st.cursor.state === "live"; next = st.early.get(st.cursor.last)) {
      st.early.delete(next.prev);
      st.earlyBytes -= next.raw.byteLength;
      this.fanOut(st, next);
    }
    if (st.early.size === 0) {
      const after = st.afterEarly;
      this.clearEarly(st);
      for (const e of after) this.offerLiveOnly(st, e);
    }
  }

  /** The missing publication did not come: read the gap from the stream; the early ones wait in the cursor. */
  private readGap(st: ChannelState): void {
    const early = [...[...st.early.values()].sort((a, b) => a.seq - b.seq), ...st.afterEarly];
    this.clearEarly(st);
    if (st.cursor.state !== "live") return;
    for (const e of early) st.cursor.hold(e, e.raw.byteLength);
    st.cursor.replay();
    void this.sync(st);
  }

  private clearEarly(st: ChannelState): void {
    clearTimeout(st.earlyTimer);
    st.earlyTimer = undefined;
    st.early.clear();
    st.earlyBytes = 0;
    st.afterEarly = [];
  }

  /**
   * Writes one publication to the channel's sockets: one topic publish per audience present, each
   * frame serialized once. `/chat/` sockets of the publishing gateway had it at once (not again).
   */
  private fanOut(st: ChannelState, e: StreamEvent): void {
    if (!e.liveOnly) {
      st.cursor.wrote(e.seq);
      if (st.reachers.length > 0) this.reached(st);
      if (this.repeated(st, e.id, e.seq)) return this.rejections.count("stored_repeat", this.log, { channel: st.channel, seq: e.seq, first: st.ids.get(e.id) });
      st.ring.push(e);
      st.ringBytes += e.raw.byteLength;
      if (e.id !== "") st.ids.set(e.id, e.seq);
      while (st.ring.length > RING_SIZE || (st.ringBytes > RING_BYTES && st.ring.length > 1)) {
        const old = st.ring.shift()!;
        st.ringBytes -= old.raw.byteLength;
        if (old.id !== "" && st.ids.get(old.id) === old.seq) st.ids.delete(old.id);
      }
    }
    const legacy = st.legacy > 0 && e.origin !== this.publisher.origin;
    // Delta subscribers are on their own topics: a plain frame only for the others.
    const delta = this.deltas.has(st.channel);
    const plain = (enc: PushEncoding): boolean => st.subscribers[enc.name] > (delta ? this.deltas.count(st.channel, enc.name) : 0);
    const protocol = this.encodings.some(plain);
    if (st.legacy > 0 || protocol || delta) this.counters.messageOut(this.namespace); // the publisher's own `/chat/` sockets had it already
    if (!legacy && !protocol && !delta) return;
    // Read (parsed and checked) once, and only when a frame needs more than the stored text: its own publications need no read for JSON pushes.
    let pub = e.text === undefined || legacy || delta ? this.read(st, e) : undefined;
    if (pub === null) return;
    const text = legacy ? legacyText(pub!.data) : undefined;
    if (text !== undefined) this.topicPublish(st.legacyTopic!, roomFrame(st.room!, text));
    let p: ProtocolPublication | undefined;
    for (const enc of this.encodings) {
      if (!plain(enc)) continue;
      if (e.text !== undefined && enc.stored) {
        this.batch.add(st.topics[enc.name], enc, enc.stored(st.channel, e.text, e.liveOnly ? undefined : e.seq));
        continue;
      }
      pub ??= this.read(st, e);
      if (!pub) return;
      p ??= e.liveOnly ? liveOnlyPublication(pub) : toProtocol({ seq: e.seq, pub });
      this.batch.add(st.topics[enc.name], enc, enc.frame(st.channel, { pub: p }));
    }
    if (delta) {
      p ??= e.liveOnly ? liveOnlyPublication(pub!) : toProtocol({ seq: e.seq, pub: pub! });
      const { data, ...meta } = p;
      this.deltas.publish(st.channel, data, meta, pub!.delta === true);
    }
  }

  /**
   * True for a later copy of a publication this gateway wrote at an earlier offset (its id in the
   * ring): the stream stored it twice (a publish sent again while its first copy was in flight
   * through a leader change; nats-server 2.9 does not always dedupe those). Written once, the first time.
   */
  private repeated(st: ChannelState, id: string, seq: number): boolean {
    if (id === "") return false;
    const first = st.ids.get(id);
    return first !== undefined && first < seq;
  }

  /** Releases the recoveries waiting for an offset the cursor has now fanned out. */
  private reached(st: ChannelState): void {
    const due = st.reachers.filter((r) => r.offset <= st.cursor.last);
    if (due.length === 0) return;
    st.reachers = st.reachers.filter((r) => r.offset > st.cursor.last);
    for (const r of due) r.done();
  }

  /**
   * Writes the channel's held protocol pushes now: call it before a socket subscribes to the
   * channel's topic, whose subscribe reply (its offset, or the publications it recovered) covers them.
   */
  flush(channel: string): void {
    const st = this.channels.get(channel);
    if (!st) return;
    for (const enc of this.encodings) this.batch.flush(st.topics[enc.name]);
  }

  /** The Bun topic of a joined channel's publications in `enc` (one string per channel, shared by its subscribers). */
  topic(channel: string, enc: PushEncoding): string {
    return this.channels.get(channel)?.topics[enc.name] ?? enc.topic(channel);
  }

  private topicPublish(topic: string, frame: string | Uint8Array): void {
    this.server().publish(topic, frame);
    this.published(frame.length);
  }

  private countFailure(err: unknown): void {
    this.failures.count++;
    const now = Date.now();
    if (now - this.failures.at < 5000) return;
    this.log.warn({ err: String(err), failures: this.failures.count, stream: this.store.stream.name }, "reading the stream failed; retrying with backoff");
    this.failures = { count: 0, at: now };
  }
}

/** The publications at or before `offset` (a sorted list: cut at the first one past it). */
function upTo(pubs: ProtocolPublication[], offset: number): ProtocolPublication[] {
  const past = pubs.findIndex((p) => p.offset! > offset);
  return past < 0 ? pubs : pubs.slice(0, past);
}

function toProtocol(p: Pick<StoredPublication, "seq" | "pub">): ProtocolPublication {
  const out: ProtocolPublication = p.pub.info ? { data: p.pub.data, info: p.pub.info, offset: p.seq } : { data: p.pub.data, offset: p.seq };
  if (p.pub.tags !== undefined) out.tags = p.pub.tags;
  return out;
}

/** A live-only publication as pushed: no offset (the SDK's position does not move). */
function liveOnlyPublication(pub: RoomPublication): ProtocolPublication {
  const out: ProtocolPublication = pub.info ? { data: pub.data, info: pub.info } : { data: pub.data };
  if (pub.tags !== undefined) out.tags = pub.tags;
  return out;
}
