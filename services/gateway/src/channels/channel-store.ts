import { DiscardPolicy, JetStreamApiError, StorageType } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { readRoomPayload, type RoomPublication } from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import { Backoff } from "../backoff.ts";
import type { Broker } from "../broker/broker.ts";
import { MSG_ID_HEADER, ORIGIN_HEADER, ORIGIN_SEQ_HEADER } from "../broker/stream-publisher.ts";
import type { ReadMsg, StreamSettings } from "../broker/streams.ts";
import { streamGet, type MsgQuery } from "./stream-get.ts";
import { streamRead } from "./stream-read.ts";
import type { ChannelStream } from "./streams.ts";

/** One stored publication of a channel: its offset (stream seq), when it was stored, and who sent it. */
export interface StoredPublication {
  seq: number;
  at: number;
  pub: RoomPublication;
  /** The payload as stored. */
  raw: Uint8Array;
  /** The gateway process that published it (`Rt-Origin`). */
  origin: string;
  /** Its publisher's id for it (`Nats-Msg-Id`; "" when none). */
  id: string;
  /** Its place in its gateway's publishes (`Rt-Seq`; "" when none). */
  originSeq: string;
}

/** Largest stored publication read back (MAX_MESSAGE_BYTES is at most 16 MiB; the envelope adds little). */
const MAX_STORED_BYTES = 17 * 1024 * 1024;
/** JetStream's "stream name already in use with a different configuration" (JSStreamNameExistErr). */
/** JetStream's "insufficient storage resources available" (JSInsufficientResourcesErr): max_bytes is over what the server may store. */
const INSUFFICIENT_RESOURCES = 10047;

/**
 * One stream of channel history (ROOMS for `chat`, `NS_<ns>` for each other namespace with
 * history): every channel's recent publications on its store subject, republished by the server
 * to its live subject with `Nats-Sequence` (the offset) and `Nats-Last-Sequence` (the channel's
 * previous offset): a per-channel chain made by the server. Gateways create or update it (every
 * gateway must be given the same limits) at start and after each reconnect. It is bounded per
 * channel (`max_msgs_per_subject`, `max_age`), in total (`max_bytes`, discarding the oldest) and per
 * message (`max_msg_size`); a stream created without them (an older version) gets them at the next start.
 */
export class ChannelStore {
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  private readonly backoff = new Backoff(250, 10_000);
  private ensuring: Promise<void> | undefined;
  private stopped = false;
  private inPlace = false;
  private readonly readyListeners: Array<() => void> = [];

  private readonly limits: ChannelStream["limits"];

  constructor(private readonly broker: Broker, readonly stream: ChannelStream, private readonly log: Logger, private readonly onInvalid: (seq: number) => void) {
    this.limits = stream.limits;
    broker.onUp(() => void this.ensureStream());
    broker.onDown(() => (this.inPlace = false));
  }

  stop(): void {
    this.stopped = true;
  }

  /** The stream configuration the gateways own. */
  streamConfig(): StreamSettings {
    return {
      name: this.stream.name,
      subjects: [this.stream.storeWildcard],
      storage: StorageType.File,
      max_msgs_per_subject: this.limits.size,
      max_age: nanos(this.limits.ttlMs),
      max_bytes: this.limits.maxBytes,
      max_msg_size: this.limits.maxMsgSize,
      duplicate_window: nanos(Math.min(this.limits.dedupWindowMs, this.limits.ttlMs)),
      discard: DiscardPolicy.Old,
      num_replicas: this.limits.replicas,
      republish: { src: this.stream.storeWildcard.replace(/\*$/, ">"), dest: this.stream.liveWildcard.replace(/\*$/, ">") },
    };
  }

  /** True once the stream was created or updated on this connection (channels publish into it). */
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

  /** The channel's newest stored offset (0: none). */
  async top(channel: string): Promise<number> {
    return (await this.get({ last_by_subj: this.stream.storeSubject(channel) }))?.seq ?? 0;
  }

  /**
   * Whether the channel's publication `seq` is stored: `kept`; `gone` (trimmed, removed, or `seq` is
   * another channel's); or `missing`: not there though the channel keeps older ones, which the
   * stream's limits cannot do (they trim oldest first): a leader that has not caught up yet.
   */
  async kept(channel: string, seq: number): Promise<"kept" | "gone" | "missing"> {
    const subject = this.stream.storeSubject(channel);
    const m = await this.get({ seq });
    if (m) return m.subject === subject ? "kept" : "gone";
    const oldest = await this.get({ seq: 1, next_by_subj: subject });
    if (!oldest || oldest.seq > seq) return "gone";
    // Older ones kept and newer ones too: a hole the stream moved past (a publication removed, or an
    // acknowledged write a nats-server 2.9 replica lost), not trimmed: everything after it is there.
    // Older ones kept and nothing newer: a leader still catching up (it applies in order).
    return (await this.get({ seq: seq + 1, next_by_subj: subject })) ? "kept" : "missing";
  }

  /** The channel's publication stored at exactly `seq`, or undefined when it is gone (or another channel's). */
  async at(channel: string, seq: number): Promise<StoredPublication | undefined> {
    const m = await this.get({ seq });
    return m && m.subject === this.stream.storeSubject(channel) ? this.entry(m) : undefined;
  }

  /** The channel's valid publications with seq >= `fromSeq`, oldest first, read as they are consumed (stop early with `break`). */
  async *read(channel: string, fromSeq: number): AsyncGenerator<StoredPublication> {
    for await (const m of streamRead(this.broker, this.stream.name, this.stream.storeSubject(channel), fromSeq)) {
      const e = this.entry(m);
      if (e) yield e;
    }
  }

  /** Every kept publication of the channel after `afterSeq`, oldest first (at most `max`). */
  async after(channel: string, afterSeq: number, max: number): Promise<StoredPublication[]> {
    const out: StoredPublication[] = [];
    if (max <= 0) return out;
    for await (const e of this.read(channel, afterSeq + 1)) {
      out.push(e);
      if (out.length >= max) break;
    }
    return out;
  }

  private get(query: MsgQuery): Promise<ReadMsg | null> {
    return streamGet(this.broker, this.stream.name, query);
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
    return { seq: m.seq, at: m.at, pub, raw: m.data, origin: m.header(ORIGIN_HEADER), id: m.header(MSG_ID_HEADER), originSeq: m.header(ORIGIN_SEQ_HEADER) };
  }

  private async ensureLoop(): Promise<void> {
    for (let attempt = 1; !this.stopped && this.broker.connected(); attempt++) {
      try {
        await this.createOrUpdate();
        this.inPlace = true;
        this.backoff.reset();
        this.log.info({ stream: this.stream.name, namespace: this.stream.namespace, limits: this.limits }, this.stream.namespace === "chat" ? "rooms stream ready" : "namespace stream ready");
        for (const fn of this.readyListeners) fn();
        return;
      } catch (err) {
        if (err instanceof JetStreamApiError && err.code === INSUFFICIENT_RESOURCES) {
          const variable = this.stream.namespace === "chat" ? "ROOMS_MAX_BYTES" : "CHANNELS_MAX_BYTES";
          if (attempt === 1 || attempt % 10 === 0) this.log.error({ err: String(err), attempt, stream: this.stream.name, maxBytes: this.limits.maxBytes, replicas: this.limits.replicas }, `JetStream cannot reserve ${variable}: lower it or give the NATS servers more storage (jetstream max_file_store); retrying`);
        } else if (attempt === 1 || attempt % 10 === 0) this.log.warn({ err: String(err), attempt, stream: this.stream.name }, "stream not ready; retrying");
        await Bun.sleep(this.backoff.next());
      }
    }
  }

  private async createOrUpdate(): Promise<void> {
    const streams = this.broker.streams();
    if (!streams) throw new Error("not connected to NATS yet");
    await streams.ensure(this.streamConfig());
  }
}
