import type { Msg } from "@nats-io/transport-node";
import { channelPubSubject, isOwnStoredForm, isStoredForm, maxStoredPublicationBytes, namespaceOf, readRoomPayload, type RoomPublication } from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import type { Broker } from "../broker/broker.ts";
import type { Stored } from "../broker/outbox.ts";
import { TurnPublisher } from "../broker/turn-publisher.ts";
import { NO_COUNTERS, type GatewayCounters } from "../metrics.ts";
import type { Rejections } from "../rejections.ts";
import type { Creator } from "../sessions/create-limit.ts";
import { noneYet, type EncodingName, type PerEncoding, type ProtocolPublication, type PushEncoding } from "../protocols/centrifugo/push.ts";
import type { Audience, ChannelHub, Position, PublishRefusal } from "./hub.ts";
import { PushBatcher } from "./push-batch.ts";
import type { TopicPublisher } from "./sink.ts";
import { DeltaChannels } from "./delta/delta-channels.ts";

/** Where every subscriber of a channel without history starts: nowhere in particular (no offsets, no epoch). */
const NO_POSITION: Position = Object.freeze({ epoch: "", offset: 0, recovered: false, publications: [] as ProtocolPublication[] }) as Position;

interface LiveState {
  channel: string;
  namespace: string;
  /** Its core NATS subject. */
  subject: string;
  holders: number;
  subscribers: PerEncoding;
  /** The channel's Bun topic per encoding, built once. */
  topics: Record<EncodingName, string>;
  /** Settles once NATS has this gateway's subscription of `subject` (a flush after it), or the link was down then. */
  interest: Promise<void>;
}

/**
 * The channels of namespaces without history, across gateways, without JetStream: a publication
 * is one core NATS publish on `chan.pub.<ns>.<channel>` (nothing stored, nothing acknowledged),
 * and every gateway with subscribers of the channel holds that subject (by interest) and fans each
 * publication out with Bun's topic publish, serialized once per encoding. The publishing gateway
 * writes to its own subscribers at once: its NATS connection does not echo what it publishes.
 *
 * No offsets and no epoch: a subscriber gets what is published from its subscribe on. One
 * publisher's publications arrive in the order it made them, on every gateway; two publishers'
 * may interleave differently on two gateways (NATS orders per connection only). While this
 * gateway's NATS link is down, a publish is refused (`unavailable`: the caller may publish again
 * later) and nothing from other gateways arrives; what was handed to NATS just before a cut the
 * gateway had not yet noticed may be lost (a turn's publishes are handed over together at its end:
 * TurnPublisher). Nothing is replayed after the link is back.
 */
export class LiveHub implements ChannelHub {
  private readonly channels = new Map<string, LiveState>();
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  /** Protocol pushes of one turn, one frame per channel and encoding. */
  private readonly batch = new PushBatcher((topic, frame) => this.topicPublish(topic, frame));
  readonly deltas = new DeltaChannels((topic, frame) => this.topicPublish(topic, frame));
  /** The largest publication relayed: maxStoredPublicationBytes(MAX_MESSAGE_BYTES), what a producer publishes at most. */
  private readonly maxRelayed: number;
  /** A turn's publishes to NATS, one socket write. */
  private readonly out: TurnPublisher;

  constructor(
    private readonly server: () => TopicPublisher,
    private readonly broker: Broker,
    /** The client protocol's encodings (a publication is serialized once for each one that has subscribers here). */
    private readonly encodings: readonly PushEncoding[],
    maxMessageBytes: number,
    private readonly rejections: Rejections,
    private readonly log: Logger,
    /** Told the size of every topic publish (the sweeper's trigger). */
    private readonly published: (bytes: number) => void,
    private readonly counters: GatewayCounters = NO_COUNTERS,
  ) {
    this.maxRelayed = maxStoredPublicationBytes(maxMessageBytes);
    // Each publish the link dropped before its turn ended, counted as one refused while it was down.
    this.out = new TurnPublisher(broker, (n) => {
      for (let i = 0; i < n; i++) this.rejections.count("nats_publish_unavailable", this.log, { dropped: n });
    });
  }

  join(channel: string, audience: Audience): void {
    if (audience === "legacy") throw new RangeError("channels without history have no /chat/ sockets");
    const st = this.channels.get(channel);
    if (st) {
      st.holders++;
      st.subscribers[audience]++;
      return;
    }
    const namespace = namespaceOf(channel);
    const fresh: LiveState = {
      channel,
      namespace,
      subject: channelPubSubject(namespace, channel),
      holders: 1,
      subscribers: noneYet(),
      topics: Object.fromEntries(this.encodings.map((enc) => [enc.name, enc.topic(channel)])) as Record<EncodingName, string>,
      interest: Promise.resolve(),
    };
    fresh.subscribers[audience]++;
    this.channels.set(channel, fresh);
    this.broker.acquire(fresh.subject, (msg) => this.fromNats(fresh, msg));
    // The subscription goes out now; a PING after it comes back once the server has it. While the
    // link is down there is nothing to wait for (publishes are refused, nothing arrives).
    if (this.broker.connected()) fresh.interest = this.broker.flush().catch(() => undefined);
  }

  leave(channel: string, audience: Audience): void {
    const st = this.channels.get(channel);
    if (!st || audience === "legacy") return;
    st.subscribers[audience]--;
    if (--st.holders > 0) return;
    this.channels.delete(channel);
    this.broker.release(st.subject);
  }

  /**
   * Nothing to place: the subscriber gets what is published from now on, where "now" is once NATS
   * has this gateway's interest in the channel. Answering before that, a publication another
   * gateway makes right after the subscribe reply would reach NATS first and be lost for it.
   */
  position(channel: string): Promise<Position> {
    const st = this.channels.get(channel);
    return st ? st.interest.then(() => NO_POSITION) : Promise.resolve(NO_POSITION);
  }

  catchUp(_channel: string, pos: Position): Position {
    return pos;
  }

  /** Publishes `payload` (measured by the caller) to every gateway's subscribers, this one's at once; `unavailable` while the NATS link is down. No creation allowance: nothing is stored. */
  publish(channel: string, data: unknown, payload: string, _creator?: Creator, _skipHistory?: boolean, stored?: Stored): PublishRefusal | undefined {
    const st = this.channels.get(channel);
    const namespace = st?.namespace ?? namespaceOf(channel);
    if (!this.out.publish(st?.subject ?? channelPubSubject(namespace, channel), payload)) {
      this.rejections.count("nats_publish_unavailable", this.log, { channel });
      return "unavailable";
    }
    this.counters.messageIn(namespace);
    if (st) this.fanOut(st, isOwnStoredForm(payload) ? payload : undefined, () => readRoomPayload(payload) ?? { data });
    stored?.(true);
    return undefined;
  }

  flush(channel: string): void {
    const st = this.channels.get(channel);
    if (!st) return;
    for (const enc of this.encodings) this.batch.flush(st.topics[enc.name]);
  }

  topic(channel: string, enc: PushEncoding): string {
    return this.channels.get(channel)?.topics[enc.name] ?? enc.topic(channel);
  }

  *holdersByChannel(): Generator<[string, number]> {
    for (const st of this.channels.values()) yield [st.channel, st.holders];
  }

  get size(): number {
    return this.channels.size;
  }

  get holders(): number {
    let n = 0;
    for (const st of this.channels.values()) n += st.holders;
    return n;
  }

  /** A publication from another gateway (or the server API): checked, then fanned out. */
  private fromNats(st: LiveState, msg: Msg): void {
    let pub: RoomPublication | undefined;
    let text: string | undefined;
    if (msg.data.byteLength <= this.maxRelayed) {
      try {
        text = this.decoder.decode(msg.data);
        pub = readRoomPayload(text);
      } catch {
        pub = undefined;
      }
    }
    if (!pub) {
      this.rejections.count("nats_channel_payload", this.log, { channel: st.channel });
      return;
    }
    this.fanOut(st, isStoredForm(text!, pub) ? text : undefined, () => pub);
  }

  /**
   * One publication to the channel's sockets here: one frame per encoding present, serialized once;
   * delta subscribers through `deltas`, on their own topics. `stored`: its stored form's text when a
   * JSON push may carry it as it is (this gateway's own publish, or one isStoredForm passed); `read`
   * gives the publication for the other encodings and the deltas, read once.
   */
  private fanOut(st: LiveState, stored: string | undefined, read: () => RoomPublication): void {
    this.counters.messageOut(st.namespace);
    const delta = this.deltas.has(st.channel);
    const plain = (enc: PushEncoding): boolean => st.subscribers[enc.name] > (delta ? this.deltas.count(st.channel, enc.name) : 0);
    let pub: RoomPublication | undefined;
    let p: ProtocolPublication | undefined;
    const protocol = (): ProtocolPublication => {
      if (!p) {
        pub = read();
        p = pub.info ? { data: pub.data, info: pub.info } : { data: pub.data };
        if (pub.tags !== undefined) p.tags = pub.tags;
      }
      return p;
    };
    for (const enc of this.encodings) {
      if (!plain(enc)) continue;
      if (stored !== undefined && enc.stored) {
        this.batch.add(st.topics[enc.name], enc, enc.stored(st.channel, stored));
        continue;
      }
      this.batch.add(st.topics[enc.name], enc, enc.frame(st.channel, { pub: protocol() }));
    }
    if (delta) {
      const { data, ...meta } = protocol();
      this.deltas.publish(st.channel, data, meta, pub!.delta === true);
    }
  }

  private topicPublish(topic: string, frame: string | Uint8Array): void {
    this.server().publish(topic, frame);
    this.published(frame.length);
  }
}
