import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, StorageType, type StoredMsg, type StreamConfig } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { ROOMS_STREAM, ROOM_LIVE_WILDCARD, ROOM_STORE_WILDCARD, readRoomPayload, roomSubject, type RoomPublication } from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import { Backoff } from "../backoff.ts";
import type { Broker } from "../broker/broker.ts";
import { ORIGIN_HEADER } from "../broker/stream-publisher.ts";
import { streamGet, type MsgQuery } from "./stream-get.ts";
import { fromGet, streamRead, type ReadMsg } from "./stream-read.ts";

/** How much of each room is kept (ROOM_HISTORY_SIZE, ROOM_HISTORY_TTL), of all rooms together (ROOMS_MAX_BYTES), the largest message, and on how many servers. */
export interface RoomHistoryLimits {
  size: number;
  ttlMs: number;
  /** The stream's `max_bytes`: past it the oldest publications of any room go. */
  maxBytes: number;
  /** The stream's `max_msg_size` (roomMaxMessageSize of MAX_MESSAGE_BYTES). */
  maxMsgSize: number;
  replicas: number;
}

/** One stored publication of a room: its offset (stream seq), when it was stored, and who sent it. */
export interface StoredPublication {
  seq: number;
  at: number;
  pub: RoomPublication;
  /** The payload as stored. */
  raw: Uint8Array;
  /** The gateway process that published it (`Rt-Origin`). */
  origin: string;
}

/** Largest stored publication read back (MAX_MESSAGE_BYTES is at most 16 MiB; the envelope adds little). */
const MAX_STORED_BYTES = 17 * 1024 * 1024;
/** JetStream's "stream name already in use with a different configuration" (JSStreamNameExistErr). */
const STREAM_NAME_IN_USE = 10058;
/** JetStream's "insufficient storage resources available" (JSInsufficientResourcesErr): max_bytes is over what the server may store. */
const INSUFFICIENT_RESOURCES = 10047;
/** The repeats of a publication sent again after a reconnect are recognized this long. */
const DEDUP_WINDOW_MS = 120_000;

/**
 * The ROOMS stream: every room's recent publications on `chat.room.<room>`, republished by the
 * server to `chat.live.<room>` with `Nats-Sequence` (the offset) and `Nats-Last-Sequence` (the
 * room's previous offset): a per-room chain made by the server. Gateways create or update it
 * (every gateway must be given the same limits) at start and after each reconnect. It is bounded in
 * total (`max_bytes`, discarding the oldest) and per message (`max_msg_size`); a stream created
 * without them (an older version) gets them at the next start.
 */
export class RoomStore {
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  private readonly backoff = new Backoff(250, 10_000);
  private ensuring: Promise<void> | undefined;
  private stopped = false;
  private inPlace = false;
  private readonly readyListeners: Array<() => void> = [];

  constructor(private readonly broker: Broker, private readonly limits: RoomHistoryLimits, private readonly log: Logger, private readonly onInvalid: (seq: number) => void) {
    broker.onUp(() => void this.ensureStream());
    broker.onDown(() => (this.inPlace = false));
  }

  stop(): void {
    this.stopped = true;
  }

  /** The stream configuration the gateways own. */
  streamConfig(): Partial<StreamConfig> & { name: string } {
    return {
      name: ROOMS_STREAM,
      subjects: [ROOM_STORE_WILDCARD],
      storage: StorageType.File,
      max_msgs_per_subject: this.limits.size,
      max_age: nanos(this.limits.ttlMs),
      max_bytes: this.limits.maxBytes,
      max_msg_size: this.limits.maxMsgSize,
      duplicate_window: nanos(Math.min(DEDUP_WINDOW_MS, this.limits.ttlMs)),
      discard: DiscardPolicy.Old,
      num_replicas: this.limits.replicas,
      republish: { src: ROOM_STORE_WILDCARD.replace("*", ">"), dest: ROOM_LIVE_WILDCARD.replace("*", ">") },
    };
  }

  /** True once the stream was created or updated on this connection (rooms publish into it). */
  get ready(): boolean {
    return this.inPlace && this.broker.connected();
  }

  /** `fn` runs each time the stream is in place on a connection (after the first connect and every reconnect). */
  onReady(fn: () => void): void {
    this.readyListeners.push(fn);
  }

  /** Creates or updates the stream, retrying with backoff until JetStream answers. */
  ensureStream(): Promise<void> {
    this.ensuring ??= this.ensureLoop().finally(() => (this.ensuring = undefined));
    return this.ensuring;
  }

  /** The room's newest stored offset (0: none). */
  async top(room: string): Promise<number> {
    return (await this.get({ last_by_subj: roomSubject(room) }))?.seq ?? 0;
  }

  /** The room's publication stored at exactly `seq`, or undefined when it is gone (or another room's). */
  async at(room: string, seq: number): Promise<StoredPublication | undefined> {
    const m = await this.get({ seq });
    return m && m.subject === roomSubject(room) ? this.entry(fromGet(m)) : undefined;
  }

  /** The room's valid publications with seq >= `fromSeq`, oldest first, read as they are consumed (stop early with `break`). */
  async *read(room: string, fromSeq: number): AsyncGenerator<StoredPublication> {
    for await (const m of streamRead(this.broker, ROOMS_STREAM, roomSubject(room), fromSeq)) {
      const e = this.entry(m);
      if (e) yield e;
    }
  }

  /** Every kept publication of the room after `afterSeq`, oldest first (at most `max`). */
  async after(room: string, afterSeq: number, max: number): Promise<StoredPublication[]> {
    const out: StoredPublication[] = [];
    if (max <= 0) return out;
    for await (const e of this.read(room, afterSeq + 1)) {
      out.push(e);
      if (out.length >= max) break;
    }
    return out;
  }

  private get(query: MsgQuery): Promise<StoredMsg | null> {
    return streamGet(this.broker, ROOMS_STREAM, query);
  }

  private entry(m: ReadMsg): StoredPublication | undefined {
    let pub: RoomPublication | undefined;
    try {
      if (m.data.byteLength > MAX_STORED_BYTES) throw new Error("oversize");
      pub = readRoomPayload(this.decoder.decode(m.data));
    } catch {
      pub = undefined;
    }
    if (!pub) {
      this.onInvalid(m.seq);
      return undefined;
    }
    return { seq: m.seq, at: m.at, pub, raw: m.data, origin: m.header(ORIGIN_HEADER) };
  }

  private async ensureLoop(): Promise<void> {
    for (let attempt = 1; !this.stopped && this.broker.connected(); attempt++) {
      try {
        await this.createOrUpdate();
        this.inPlace = true;
        this.backoff.reset();
        this.log.info({ stream: ROOMS_STREAM, limits: this.limits }, "rooms stream ready");
        for (const fn of this.readyListeners) fn();
        return;
      } catch (err) {
        if (err instanceof JetStreamApiError && err.code === INSUFFICIENT_RESOURCES) {
          if (attempt === 1 || attempt % 10 === 0) this.log.error({ err: String(err), attempt, maxBytes: this.limits.maxBytes, replicas: this.limits.replicas }, "JetStream cannot reserve ROOMS_MAX_BYTES: lower it or give the NATS servers more storage (jetstream max_file_store); retrying");
        } else if (attempt === 1 || attempt % 10 === 0) this.log.warn({ err: String(err), attempt }, "rooms stream not ready; retrying");
        await Bun.sleep(this.backoff.next());
      }
    }
  }

  private async createOrUpdate(): Promise<void> {
    const jsm = this.broker.jetstream();
    if (!jsm) throw new Error("not connected to NATS yet");
    const config = this.streamConfig();
    try {
      await jsm.streams.info(ROOMS_STREAM);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
      try {
        await jsm.streams.add(config);
        return;
      } catch (addErr) {
        // Another gateway created it meanwhile: update it like an existing one.
        if (!(addErr instanceof JetStreamApiError && addErr.code === STREAM_NAME_IN_USE)) throw addErr;
      }
    }
    const { name: _name, storage: _storage, ...update } = config;
    await jsm.streams.update(ROOMS_STREAM, update);
  }
}
