import type { Msg } from "@nats-io/transport-node";
import type { Server } from "bun";
import { ROOMS_STREAM, legacyText, maxStoredPublicationBytes, readRoomPayload, roomFrame, roomLiveSubject, roomSubject, type RoomPublication, type centrifugo } from "@rt/protocol";
export type { ProtocolPublication } from "../protocols/centrifugo/push.ts";
import type { Logger } from "@rt/runtime";
import type { Broker } from "../broker/broker.ts";
import { headerFields } from "../broker/header-fields.ts";
import { ORIGIN_HEADER, ORIGIN_SEQ_HEADER, type StreamPublishing } from "../broker/stream-publisher.ts";
import { NO_COUNTERS, type GatewayCounters } from "../metrics.ts";
import type { Rejections } from "../rejections.ts";
import type { CreateLimit, Creator } from "../sessions/create-limit.ts";
import { StreamCursor, type ChainedEvent } from "./cursor.ts";
import type { RoomStore, StoredPublication } from "./room-store.ts";
import { StreamMissingError } from "./stream-get.ts";
import type { StreamEpoch } from "./stream-epoch.ts";
import { PushBatcher } from "./push-batch.ts";
import { SyncTask } from "./sync-task.ts";
import { noneYet, type EncodingName, type PerEncoding, type ProtocolPublication, type PushEncoding } from "../protocols/centrifugo/push.ts";

/** One publication of a room as this gateway fans it out. */
export interface RoomEvent extends ChainedEvent {
  /** The gateway process that published it. */
  origin: string;
  /** Its payload as stored; read (and validated) only when someone here needs a frame of it. */
  raw: Uint8Array;
  /** The payload read: a publication, null when it is not a valid one, undefined until read. */
  pub: RoomPublication | null | undefined;
}

/** Who a room's publications go to on this gateway (what is serialized depends on it): `/chat/` sockets, or protocol subscribers of an encoding. */
export type RoomAudience = "legacy" | EncodingName;

/** What a protocol subscriber is told at subscribe: where the room stands, and what it missed when it asked to recover. */
export interface RoomPosition {
  epoch: string;
  offset: number;
  recovered: boolean;
  publications: ProtocolPublication[];
}

/** The headers a republished publication is read by. */
const REPUBLISHED = ["Nats-Stream", "Nats-Sequence", "Nats-Last-Sequence", ORIGIN_HEADER, ORIGIN_SEQ_HEADER] as const;

/** The Bun topic of a room's `/chat/{room}` sockets (protocol subscribers have one per encoding: PushEncoding.topic). */
export const legacyRoomTopic = (room: string): string => `room:${room}`;

/** Publications kept per room for subscribers that join or recover (the hand-over from a store read to live): count and bytes. */
const RING_SIZE = 128;
const RING_BYTES = 256 * 1024;
/** Why a publish was not taken: it would create a room and its creator created too many lately. */
export type PublishRefusal = "create_rate";
/** How long a subscribe waits for the room to be placed in its stream. */
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

interface RoomState {
  room: string;
  channel: string;
  legacyTopic: string;
  holders: number;
  cursor: StreamCursor<RoomEvent>;
  /** Its catch-up job: placing the room, reading gaps and what a reconnect may have hidden. */
  sync: SyncTask;
  /** The last publications fanned out (at most RING_SIZE and RING_BYTES), oldest first: a chain, each one's prev is the one before. */
  ring: RoomEvent[];
  ringBytes: number;
  /** Holders by audience: no frame is built for an audience that is not here. */
  legacy: number;
  subscribers: PerEncoding;
  /** The room's Bun topic per encoding, built once (not per publication, not per subscriber). */
  topics: Record<EncodingName, string>;
  /** Waiting for the cursor to go live. */
  waiters: Array<() => void>;
  /** Recoveries waiting for the cursor to reach the offset their client saw elsewhere. */
  reachers: Array<{ offset: number; done: () => void }>;
  /** Publications that came early, keyed by their `prev`: each is written once the one before it is. */
  early: Map<number, RoomEvent>;
  earlyBytes: number;
  earlyTimer: ReturnType<typeof setTimeout> | undefined;
  /** A publish into the room while it had nothing stored (as this gateway saw it) was counted as its creation. */
  created: boolean;
}

/**
 * Chat rooms across gateways. A publication (a `/chat/{room}` text frame, or a protocol publish on
 * `chat:{room}`) is published by its gateway into the ROOMS stream (through the confirmed outbox);
 * the stream stores it and republishes it to every gateway with its offset and the room's previous
 * offset. Each gateway keeps one StreamCursor per room it serves and fans each publication out
 * with Bun's topic publish, serialized once per encoding: exactly once, in the stream's order, gaps
 * read back from the stream. A text publication also reaches its own gateway's `/chat/{room}`
 * sockets at once, so they are served while NATS is away.
 */
export class RoomHub {
  private readonly rooms = new Map<string, RoomState>();
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  /** Reads of a room's last offset in flight, shared (see top). */
  private readonly tops = new Map<string, Promise<number>>();
  /** Store reads in flight per room, shared by the recoveries they cover (see readAfter). */
  private readonly reads = new Map<string, { from: number; entries: Promise<StoredPublication[]> }>();
  /** Protocol pushes of one turn, one frame per room and encoding. */
  private readonly batch = new PushBatcher((topic, frame) => this.topicPublish(topic, frame));
  private failures = { count: 0, at: 0 };
  /** The largest stored publication relayed: maxStoredPublicationBytes(MAX_MESSAGE_BYTES). */
  private readonly maxStoredBytes: number;

  constructor(
    private readonly server: () => Server<unknown>,
    private readonly broker: Broker,
    private readonly store: RoomStore,
    private readonly epoch: StreamEpoch,
    private readonly publisher: StreamPublishing,
    /** The client protocol's encodings (a publication is serialized once for each one that has subscribers here). */
    private readonly encodings: readonly PushEncoding[],
    private readonly historySize: number,
    maxMessageBytes: number,
    private readonly rejections: Rejections,
    private readonly log: Logger,
    /** Told the size of every topic publish (the sweeper's trigger). */
    private readonly published: (bytes: number) => void,
    /** How fast rooms may be created (a publish into a room with nothing stored). */
    private readonly createLimit: CreateLimit,
    private readonly counters: GatewayCounters = NO_COUNTERS,
  ) {
    this.maxStoredBytes = maxStoredPublicationBytes(maxMessageBytes);
    broker.onUp(() => {
      for (const st of this.rooms.values()) void this.sync(st);
    });
    epoch.onChange((e) => this.epochChanged(e));
  }

  /** One more local holder of `room` (a `/chat/` socket or a protocol subscription); the first one subscribes to it. */
  join(room: string, audience: RoomAudience): void {
    const st = this.rooms.get(room);
    if (st) {
      st.holders++;
      this.count(st, audience, 1);
      return;
    }
    const channel = `chat:${room}`;
    const fresh: RoomState = {
      room,
      channel,
      legacyTopic: legacyRoomTopic(room),

      holders: 1,
      cursor: new StreamCursor(HELD),
      sync: new SyncTask(() => this.syncOnce(fresh), () => fresh.cursor.closed, (err) => {
        this.countFailure(err);
        return err instanceof StreamMissingError ? 1000 : "backoff";
      }),
      ring: [],
      ringBytes: 0,
      legacy: 0,
      subscribers: noneYet(),
      topics: Object.fromEntries(this.encodings.map((enc) => [enc.name, enc.topic(channel)])) as Record<EncodingName, string>,
      waiters: [],
      reachers: [],
      early: new Map(),
      earlyBytes: 0,
      earlyTimer: undefined,
      created: false,
    };
    this.count(fresh, audience, 1);
    this.rooms.set(room, fresh);
    this.broker.acquire(roomLiveSubject(room), (msg) => this.fromNats(fresh, msg));
    void this.sync(fresh);
  }

  /** One holder fewer; the last one unsubscribes. */
  leave(room: string, audience: RoomAudience): void {
    const st = this.rooms.get(room);
    if (!st) return;
    this.count(st, audience, -1);
    if (--st.holders > 0) return;
    this.rooms.delete(room);
    st.cursor.close();
    st.sync.stop();
    this.clearEarly(st);
    this.broker.release(roomLiveSubject(room));
  }

  /**
   * A member of this gateway (`creator`) publishes `data` on `room`, stored as `payload` (its
   * RoomPublication as JSON, `roomPayload`, serialized once by the caller, which checked its size
   * by its path's rule in limits.ts: what is stored here the gateways relay); undefined once it is
   * taken (queued for the stream), or why not. A publish into a room that has nothing stored, as
   * this gateway sees it (not placed yet, or placed at offset 0, and nothing written since), creates
   * the room: the first such publish spends one of the creator's creations (CreateLimit). Rooms
   * with a history never ask: one comparison on the hot path.
   */
  publish(room: string, data: unknown, payload: string, creator: Creator): PublishRefusal | undefined {
    const st = this.rooms.get(room);
    if (!st || (st.cursor.last === 0 && !st.created)) {
      if (!this.createLimit.take(creator)) {
        this.rejections.count("channel_create_rate", this.log, { room });
        return "create_rate";
      }
      if (st) st.created = true;
    }
    const text = legacyText(data);
    // Its own `/chat/{room}` sockets at once (also while NATS is away); everyone else from the stream.
    if (text !== undefined) this.topicPublish(legacyRoomTopic(room), roomFrame(room, text));
    this.publisher.publish(roomSubject(room), payload);
    this.counters.messageIn("chat");
    return undefined;
  }

  private count(st: RoomState, audience: RoomAudience, by: number): void {
    if (audience === "legacy") st.legacy += by;
    else st.subscribers[audience] += by;
  }

  /** Rooms with a holder here. */
  get size(): number {
    return this.rooms.size;
  }

  /** Holders of every room here (`/chat/` sockets and protocol subscriptions). */
  get holders(): number {
    let n = 0;
    for (const st of this.rooms.values()) n += st.holders;
    return n;
  }

  /**
   * Where a protocol subscriber of `room` starts (the room must be joined). With `recover`, the
   * publications after the client's offset when all are still kept and the epoch matches. Resolves
   * at a point where the caller must, synchronously, send the reply and subscribe the socket to the
   * room's topic: every later publication then reaches it through the topic, none twice.
   */
  async position(room: string, recover: { offset: number; epoch: string } | undefined): Promise<RoomPosition> {
    const pos = await this.place(room, recover);
    if (recover) this.counters.recovery("chat", pos.recovered);
    return pos;
  }

  private async place(room: string, recover: { offset: number; epoch: string } | undefined): Promise<RoomPosition> {
    const st = await this.live(room);
    // A client that saw more of the room on another gateway than this one has fanned out yet: wait
    // until this one has, or the reply would place it behind what it has, and the topic repeat it.
    if (recover && recover.epoch === st.cursor.epoch && recover.offset > st.cursor.last) await this.reach(st, recover.offset);
    const epoch = st.cursor.epoch!;
    if (!recover || recover.epoch !== epoch || recover.offset > st.cursor.last) return { epoch, offset: st.cursor.last, recovered: false, publications: [] };
    if (recover.offset === st.cursor.last) return { epoch, offset: st.cursor.last, recovered: true, publications: [] };
    // The ring first: when it reaches back to the offset, nothing needs the stream (a reconnect storm recovers from memory).
    const recent = this.ringAfter(st, recover.offset);
    if (recent) return { epoch, offset: st.cursor.last, recovered: true, publications: recent };
    if (!(await this.stillKept(room, recover.offset))) return { epoch, offset: st.cursor.last, recovered: false, publications: [] };
    let read: ProtocolPublication[] = [];
    let after = recover.offset;
    for (;;) {
      // Synchronously from here to the return: the ring covers what came after the last read?
      const tail = this.ringAfter(st, after);
      if (tail) return { epoch, offset: st.cursor.last, recovered: true, publications: [...read, ...tail] };
      const more = await this.readAfter(room, after);
      if (st.cursor.epoch !== epoch) return { epoch: st.cursor.epoch!, offset: st.cursor.last, recovered: false, publications: [] };
      read = [...read, ...more.map(toProtocol)];
      if (more.length === 0) return { epoch, offset: st.cursor.last, recovered: true, publications: read };
      after = more.at(-1)!.seq;
    }
  }

  /**
   * `pos` (from position()) brought up to now, synchronously, for a caller that places several
   * channels before one reply: what the room wrote since is added when the client recovers, and
   * the offset moves on. When the ring no longer reaches back that far (or the epoch changed), the
   * recovery is reported as failed at the current position.
   */
  catchUp(room: string, pos: RoomPosition, recovering: boolean): RoomPosition {
    const st = this.rooms.get(room);
    if (!st || st.cursor.last === pos.offset) return pos;
    const now = { epoch: st.cursor.epoch!, offset: st.cursor.last };
    if (!recovering) return { ...now, recovered: false, publications: [] };
    const tail = st.cursor.epoch === pos.epoch ? this.ringAfter(st, pos.offset) : undefined;
    return tail ? { ...now, recovered: pos.recovered, publications: [...pos.publications, ...tail] } : { ...now, recovered: false, publications: [] };
  }

  /** The `history` command: kept publications, oldest first (or newest first with `reverse`). */
  async history(room: string, opts: { limit: number; sinceOffset: number | undefined; reverse: boolean }): Promise<{ epoch: string; offset: number; publications: ProtocolPublication[] }> {
    const epoch = await this.currentEpoch();
    const offset = await this.store.top(room);
    if (opts.limit === 0) return { epoch, offset, publications: [] };
    const max = opts.limit < 0 ? this.historySize : Math.min(opts.limit, this.historySize);
    if (!opts.reverse) return { epoch, offset, publications: (await this.store.after(room, opts.sinceOffset ?? 0, max)).map(toProtocol) };
    const all = await this.store.after(room, 0, this.historySize);
    const before = opts.sinceOffset === undefined ? all : all.filter((p) => p.seq < opts.sinceOffset!);
    return { epoch, offset, publications: before.reverse().slice(0, max).map(toProtocol) };
  }

  /** The rooms stream's epoch, once known. */
  async currentEpoch(): Promise<string> {
    if (this.epoch.current === undefined) await this.epoch.refresh();
    const e = this.epoch.current;
    if (e === undefined) throw new StreamMissingError("the rooms stream is not there (yet)");
    return e;
  }

  /**
   * The room's stored publications after `after` (at most ROOM_HISTORY_SIZE). Recoveries of one
   * room at once (clients of a gateway that died, all coming back here) share a read in flight
   * that began at or before their offset, each taking what lies after its own; a shared read that
   * holds nothing past it proves nothing (it may have begun before the latest were stored), so
   * then this one reads for itself.
   */
  private async readAfter(room: string, after: number): Promise<StoredPublication[]> {
    const shared = this.reads.get(room);
    if (shared && shared.from <= after + 1) {
      const mine = (await shared.entries).filter((e) => e.seq > after);
      if (mine.length > 0) return mine;
    }
    const read = { from: after + 1, entries: this.store.after(room, after, this.historySize) };
    this.reads.set(room, read);
    try {
      return await read.entries;
    } finally {
      if (this.reads.get(room) === read) this.reads.delete(room);
    }
  }

  /** True when `offset` of `room` is still stored, so everything after it is too (per-subject limits trim oldest first). */
  private async stillKept(room: string, offset: number): Promise<boolean> {
    if (offset > 0) return (await this.store.at(room, offset)) !== undefined;
    // Offset 0 (nothing seen yet): nothing can have been trimmed while fewer than the limit are kept.
    return (await this.store.after(room, 0, this.historySize)).length < this.historySize;
  }

  /** The ring's publications after `offset`, or undefined when the ring does not reach back that far. */
  private ringAfter(st: RoomState, offset: number): ProtocolPublication[] | undefined {
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
   * Resolves once the room's cursor here has fanned out `offset`, when the stream holds it (a
   * position the stream never reached cannot be recovered: it resolves at once and place() says
   * so); rejects after LIVE_TIMEOUT_MS.
   */
  private async reach(st: RoomState, offset: number): Promise<void> {
    if (offset > (await this.top(st.room, offset))) return;
    if (st.cursor.last >= offset) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        st.reachers = st.reachers.filter((r) => r !== waiter);
        reject(new Error("the room did not reach the client's offset in time"));
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
   * The room's last offset in the stream. Recoveries of one room at once (a reconnect storm onto a
   * lagging gateway) share a read in flight; one that read less than `atLeast` proves nothing (it
   * may have begun before that offset was stored), so then this one reads for itself.
   */
  private async top(room: string, atLeast: number): Promise<number> {
    const shared = this.tops.get(room);
    if (shared) {
      const top = await shared.catch(() => -1);
      if (top >= atLeast) return top;
    }
    const read = this.store.top(room);
    this.tops.set(room, read);
    try {
      return await read;
    } finally {
      if (this.tops.get(room) === read) this.tops.delete(room);
    }
  }

  /** Resolves with the room once its cursor is live here (joined and placed in the stream). */
  private live(room: string): Promise<RoomState> {
    const st = this.rooms.get(room);
    if (!st) return Promise.reject(new Error(`room ${room} is not joined`));
    if (st.cursor.state === "live" || st.cursor.state === "replaying") return Promise.resolve(st);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the room's stream did not answer in time")), LIVE_TIMEOUT_MS);
      st.waiters.push(() => {
        clearTimeout(timer);
        resolve(st);
      });
    });
  }

  private sync(st: RoomState): Promise<void> {
    return st.sync.run();
  }

  /** Places the room at its stream's top (first time), then reads what the cursor misses and goes live. */
  private async syncOnce(st: RoomState): Promise<void> {
    const c = st.cursor;
    if (!this.broker.connected()) return; // onUp resumes
    if (c.state === "positioning") {
      const epoch = await this.currentEpoch();
      const top = await this.store.top(st.room);
      if (c.state !== "positioning") return;
      c.position(epoch, top);
    } else if (c.state === "live") c.replay(); // a reconnect: what was republished meanwhile is in the stream
    while (c.state === "replaying") {
      const generation = c.generation;
      let atEnd = true;
      for await (const entry of this.store.read(st.room, c.last + 1)) {
        if (c.generation !== generation || c.state !== "replaying") {
          atEnd = false;
          break;
        }
        this.fanOut(st, { seq: entry.seq, prev: c.last, origin: entry.origin, raw: entry.raw, pub: entry.pub });
      }
      if (c.generation !== generation) continue;
      if (c.state !== "replaying") return;
      if (atEnd) this.goLive(st);
    }
  }

  private goLive(st: RoomState): void {
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

  /** The rooms stream was created anew: every room starts over at 0 of the new life (its publications are all new). */
  private epochChanged(epoch: string | undefined): void {
    if (epoch === undefined) return;
    for (const st of this.rooms.values()) {
      if (st.cursor.state !== "positioning" && st.cursor.epoch !== epoch) {
        st.cursor.position(epoch, 0);
        st.ring = [];
        st.ringBytes = 0;
        this.clearEarly(st);
        // Recoveries waiting for an offset of the old life: place() answers them (not recovered) now.
        for (const r of st.reachers.splice(0)) r.done();
      }
      void this.sync(st);
    }
  }

  /** A publication the stream republished: its headers checked now, its payload when a frame of it is needed. */
  private fromNats(st: RoomState, msg: Msg): void {
    const h = headerFields(msg, REPUBLISHED);
    const seq = Number(h?.["Nats-Sequence"]);
    const prev = Number(h?.["Nats-Last-Sequence"]);
    if (h?.["Nats-Stream"] !== ROOMS_STREAM || !Number.isSafeInteger(seq) || seq < 1 || !Number.isSafeInteger(prev) || prev < 0 || prev >= seq || msg.data.byteLength > this.maxStoredBytes) {
      this.rejections.count("nats_room_payload", this.log, { room: st.room });
      return;
    }
    // This gateway's own publish, stored: that confirms it to the outbox (its first send asks for no ack).
    if (h[ORIGIN_HEADER] === this.publisher.origin) this.publisher.confirmed(h[ORIGIN_SEQ_HEADER]);
    // A copy: the client's message is a view of its read buffer, which the ring must not keep alive.
    this.offer(st, { seq, prev, origin: h[ORIGIN_HEADER], raw: msg.data.slice(), pub: undefined });
  }

  /** The publication of `e`, read and validated once (null, and counted, when it is not one). */
  private read(st: RoomState, e: RoomEvent): RoomPublication | null {
    if (e.pub === undefined) {
      let pub: RoomPublication | undefined;
      try {
        pub = readRoomPayload(this.decoder.decode(e.raw));
      } catch {
        pub = undefined;
      }
      e.pub = pub ?? null;
      if (!pub) this.rejections.count("nats_room_payload", this.log, { room: st.room, seq: e.seq });
    }
    return e.pub;
  }

  private offer(st: RoomState, e: RoomEvent): void {
    const c = st.cursor;
    // The first publication the stream republishes to us places the room: everything before it
    // (its `prev` and older) was published before this gateway joined. No store read, so a busy
    // room is live at once; a quiet one is placed by the store's top (syncOnce) instead.
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
        return; // a duplicate (or the missing one of a gap already read from the stream), or the room left
    }
  }

  /** A publication ahead of a gap: kept until the missing one arrives, or read from the stream after REORDER_MS. */
  private early(st: RoomState, e: RoomEvent): void {
    st.early.set(e.prev, e);
    st.earlyBytes += e.raw.byteLength;
    if (st.early.size > REORDER_LIMIT.maxEvents || st.earlyBytes > REORDER_LIMIT.maxBytes) return this.readGap(st);
    st.earlyTimer ??= setTimeout(() => this.readGap(st), REORDER_MS);
  }

  /** Writes the early publications that now follow on. */
  private writeEarly(st: RoomState): void {
    for (let next = st.early.get(st.cursor.last); next && st.cursor.state === "live"; next = st.early.get(st.cursor.last)) {
      st.early.delete(next.prev);
      st.earlyBytes -= next.raw.byteLength;
      this.fanOut(st, next);
    }
    if (st.early.size === 0) this.clearEarly(st);
  }

  /** The missing publication did not come: read the gap from the stream; the early ones wait in the cursor. */
  private readGap(st: RoomState): void {
    const early = [...st.early.values()].sort((a, b) => a.seq - b.seq);
    this.clearEarly(st);
    if (st.cursor.state !== "live") return;
    for (const e of early) st.cursor.hold(e, e.raw.byteLength);
    st.cursor.replay();
    void this.sync(st);
  }

  private clearEarly(st: RoomState): void {
    clearTimeout(st.earlyTimer);
    st.earlyTimer = undefined;
    st.early.clear();
    st.earlyBytes = 0;
  }

  /**
   * Writes one publication to the room's sockets: one topic publish per audience present, each
   * frame serialized once. `/chat/` sockets of the publishing gateway had it at once (not again).
   */
  private fanOut(st: RoomState, e: RoomEvent): void {
    st.cursor.wrote(e.seq);
    if (st.reachers.length > 0) this.reached(st);
    st.ring.push(e);
    st.ringBytes += e.raw.byteLength;
    while (st.ring.length > RING_SIZE || (st.ringBytes > RING_BYTES && st.ring.length > 1)) st.ringBytes -= st.ring.shift()!.raw.byteLength;
    const legacy = st.legacy > 0 && e.origin !== this.publisher.origin;
    const encodings = this.encodings.filter((enc) => st.subscribers[enc.name] > 0);
    if (st.legacy > 0 || encodings.length > 0) this.counters.messageOut("chat"); // the publisher's own `/chat/` sockets had it already
    if (!legacy && encodings.length === 0) return;
    const pub = this.read(st, e);
    if (!pub) return;
    const text = legacy ? legacyText(pub.data) : undefined;
    if (text !== undefined) this.topicPublish(st.legacyTopic, roomFrame(st.room, text));
    for (const enc of encodings) this.batch.add(st.topics[enc.name], enc, enc.frame(st.channel, { pub: toProtocol({ seq: e.seq, pub }) }));
  }

  /** Releases the recoveries waiting for an offset the cursor has now fanned out. */
  private reached(st: RoomState): void {
    const due = st.reachers.filter((r) => r.offset <= st.cursor.last);
    if (due.length === 0) return;
    st.reachers = st.reachers.filter((r) => r.offset > st.cursor.last);
    for (const r of due) r.done();
  }

  /**
   * Writes the room's held protocol pushes now: call it before a socket subscribes to the room's
   * topic, whose subscribe reply (its offset, or the publications it recovered) covers them.
   */
  flush(room: string): void {
    const st = this.rooms.get(room);
    if (!st) return;
    for (const enc of this.encodings) this.batch.flush(st.topics[enc.name]);
  }

  /** The Bun topic of a joined room's publications in `enc` (one string per room, shared by its subscribers). */
  topic(room: string, enc: PushEncoding): string {
    return this.rooms.get(room)?.topics[enc.name] ?? enc.topic(`chat:${room}`);
  }

  private topicPublish(topic: string, frame: string | Uint8Array): void {
    this.server().publish(topic, frame);
    this.published(frame.length);
  }

  private countFailure(err: unknown): void {
    this.failures.count++;
    const now = Date.now();
    if (now - this.failures.at < 5000) return;
    this.log.warn({ err: String(err), failures: this.failures.count }, "rooms: reading the stream failed; retrying with backoff");
    this.failures = { count: 0, at: now };
  }
}

function toProtocol(p: Pick<StoredPublication, "seq" | "pub">): ProtocolPublication {
  return p.pub.info ? { data: p.pub.data, info: p.pub.info, offset: p.seq } : { data: p.pub.data, offset: p.seq };
}
