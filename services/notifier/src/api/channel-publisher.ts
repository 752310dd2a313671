import { createHash } from "node:crypto";
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import {
  CHAT_NAMESPACE, LIVE_ONLY_HEADER, PUBLICATION_ENVELOPE_BYTES, ROOMS_STREAM, STREAM_HEADER_BYTES, channelLiveSubject, channelPubSubject, channelStoreSubject, epochOf, hasHistory, namespaceStream, roomLiveSubject, roomSubject, streamAdvisorySubjects,
  type ChannelNamespaces, type ServedChannel,
} from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import type { NotifierMetrics } from "../metrics.ts";
import { AckedPublisher, PublishFailedError, type StreamAck } from "./acked-publish.ts";

/** How long a JetStream API call (stream info) is waited for. */
const API_TIMEOUT_MS = 5000;

/** The channel's stream is not there (no gateway created it yet, or it was deleted): the caller may retry. */
export class NoStreamError extends Error {}

/**
 * The stream refused the publication for its size (over its `max_msg_size`, set by the gateways
 * from their MAX_MESSAGE_BYTES): only when the gateways were given a smaller one than this
 * notifier, which checked the data against its own. Retrying cannot help.
 */
export class MessageTooLargeError extends Error {}

/** A channel without history could not be published: the notifier's NATS link is down (the caller may retry). */
export class NotConnectedError extends Error {}

/** The stream's answer to a message over its `max_msg_size` (JSStreamMessageExceedsMaximumErr). */
const MESSAGE_TOO_LARGE = '"err_code":10054';

/** A channel of a namespace (`chat` and the CHANNELS_FILE's), as the server API publishes into it. */
export type NamespaceChannel = Extract<ServedChannel, { kind: "namespace" }>;

/** How the server API publishes one publication. */
export interface PublishOptions {
  /** Scoped to the channel: a repeat within the stream's duplicate window stores nothing. */
  idempotencyKey?: string | undefined;
  /** Delivered, not stored. */
  skipHistory?: boolean | undefined;
}

/** Where a channel with history (`chat` or a namespace with history) is stored: its stream and subject. */
export function storedAt(ref: NamespaceChannel): { stream: string; subject: string } {
  const ns = ref.namespace;
  if (ns.name === CHAT_NAMESPACE) return { stream: ROOMS_STREAM, subject: roomSubject(ref.room!) };
  return { stream: namespaceStream(ns.name), subject: channelStoreSubject(ns.name, ref.channel) };
}

/** The headers of a `skip_history` publication on a live subject (one object for all: never changed). */
const LIVE_ONLY = (() => {
  const h = headers();
  h.set(LIVE_ONLY_HEADER, "1");
  return h;
})();

/**
 * The server API's publications, the fast path with no gateway in between. Into a channel with
 * history (and every `chat:` room): stored by its stream (ROOMS for `chat`, `NS_<ns>` for another
 * namespace; the gateways own both), which republishes each one to every gateway serving the
 * channel; answered with the offset the stream gave it and the stream's epoch. An idempotency key
 * becomes the message's `Nats-Msg-Id` (scoped to the channel), so a repeat within the stream's
 * duplicate window stores nothing and is answered with the first one's offset. Into a channel
 * without history: one core NATS publish, fanned out by the gateways on delivery, answered `{}`
 * (nothing stored, so nothing to deduplicate). With `skip_history` into a channel with history:
 * one core NATS publish onto the subject its stream republishes on, marked LIVE_ONLY_HEADER, which
 * the gateways fan out in arrival order between the stored ones, without an offset; answered `{}`.
 */
export class ChannelPublisher {
  private readonly publisher: AckedPublisher;
  private jsm: JetStreamManager | undefined;
  /** Each stream's epoch, read once and again after it was created or deleted. */
  private readonly epochs = new Map<string, string>();

  /** `inboxPrefix`: the connection's (the streams' acks arrive under it). */
  /** `connected`: the NATS link is up (a core publish made while it is down is lost: refused instead). */
  constructor(
    private readonly nc: NatsConnection,
    private readonly connected: () => boolean,
    inboxPrefix: string,
    namespaces: ChannelNamespaces,
    private readonly log: Logger,
    private readonly metrics: Pick<NotifierMetrics, "publishFailed">,
  ) {
    this.publisher = new AckedPublisher(nc, inboxPrefix);
    const streams = [ROOMS_STREAM, ...namespaces.all().filter((ns) => ns.name !== CHAT_NAMESPACE && hasHistory(ns.options)).map((ns) => namespaceStream(ns.name))];
    // A stream created anew (by a gateway, after an operator deleted it) has another epoch.
    for (const stream of streams) for (const subject of streamAdvisorySubjects(stream)) nc.subscribe(subject, { callback: () => void this.epochs.delete(stream) });
  }

  stop(): void {
    this.publisher.stop();
  }

  /**
   * Publishes `payload` (a RoomPublication as JSON, `roomPayload`: no `info`, the server published
   * it) on `ref`: stored, or only delivered (`skipHistory`, and every channel without history); a
   * publish that did not go through is counted as failed.
   */
  async publish(ref: NamespaceChannel, payload: string, opts: PublishOptions = {}): Promise<{ offset?: number; epoch?: string }> {
    const ns = ref.namespace;
    const stored = ns.name === CHAT_NAMESPACE || hasHistory(ns.options);
    if (!stored || opts.skipHistory === true) {
      if (!this.connected()) throw new NotConnectedError("not connected to NATS");
      try {
        if (!stored) this.nc.publish(channelPubSubject(ns.name, ref.channel), payload);
        else this.nc.publish(ns.name === CHAT_NAMESPACE ? roomLiveSubject(ref.room!) : channelLiveSubject(ns.name, ref.channel), payload, { headers: LIVE_ONLY });
      } catch (err) {
        this.metrics.publishFailed();
        throw err;
      }
      return {};
    }
    const { stream, subject } = storedAt(ref);
    const scope = ns.name === CHAT_NAMESPACE ? ref.room! : ref.channel; // rooms keep the key scope they always had
    const msgID = opts.idempotencyKey === undefined ? undefined : `api:${createHash("sha256").update(`${scope}\u0000${opts.idempotencyKey}`).digest("base64url")}`;
    let ack: StreamAck;
    try {
      ack = await this.publisher.publish(subject, payload, msgID);
    } catch (err) {
      this.metrics.publishFailed();
      if (err instanceof PublishFailedError && err.reason === "no-stream") throw new NoStreamError(`the ${stream} stream is not there yet (no gateway has created it)`);
      if (err instanceof PublishFailedError && err.reason === "refused" && err.message.includes(MESSAGE_TOO_LARGE)) throw new MessageTooLargeError(`the publication is over the ${stream === ROOMS_STREAM ? "rooms" : stream} stream's max_msg_size (the gateways' MAX_MESSAGE_BYTES plus ${PUBLICATION_ENVELOPE_BYTES + STREAM_HEADER_BYTES}): give the gateways and the notifier the same MAX_MESSAGE_BYTES`);
      throw err;
    }
    return { offset: ack.seq, epoch: this.epochs.get(stream) ?? (await this.currentEpoch(stream)) };
  }

  /** A stream's epoch, read once and again after it was created or deleted. */
  private async currentEpoch(stream: string): Promise<string> {
    this.jsm ??= await jetstreamManager(this.nc, { timeout: API_TIMEOUT_MS, checkAPI: false });
    let epoch: string;
    try {
      epoch = epochOf((await this.jsm.streams.info(stream)).created);
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) throw new NoStreamError(err.message);
      throw err;
    }
    this.epochs.set(stream, epoch);
    this.log.debug({ stream, epoch }, "stream epoch");
    return epoch;
  }
}
