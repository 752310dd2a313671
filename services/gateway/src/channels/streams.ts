import {
  CHAT_NAMESPACE, ROOMS_STREAM, ROOM_LIVE_WILDCARD, ROOM_STORE_WILDCARD,
  channelLiveSubject, channelLiveWildcard, channelStoreSubject, channelStoreWildcard, namespaceStream, roomLiveSubject, roomSubject,
  type Namespace,
} from "@rt/protocol";

/** How much a stream keeps per channel (`history_size`, `history_ttl`), in all (`max_bytes`), the largest message, and on how many servers. */
export interface StreamLimits {
  size: number;
  ttlMs: number;
  /** The stream's `max_bytes`: past it the oldest publications of any of its channels go. */
  maxBytes: number;
  /** The stream's `max_msg_size`. */
  maxMsgSize: number;
  replicas: number;
  /** The stream's `duplicate_window` (capped at `ttlMs`): how long a publish sent again is recognised as a repeat (dedupWindowMs). */
  dedupWindowMs: number;
}

/** One JetStream stream keeping the history of one namespace's channels, and the subjects of those channels. */
export interface ChannelStream {
  /** The stream's name. */
  readonly name: string;
  /** Its namespace (`chat` for ROOMS). */
  readonly namespace: string;
  /** The stream's subjects. */
  readonly storeWildcard: string;
  /** Where it republishes what it stored. */
  readonly liveWildcard: string;
  /** The subject a publication on `channel` is stored on. */
  storeSubject(channel: string): string;
  /** The subject the stream republishes `channel`'s publications on. */
  liveSubject(channel: string): string;
  readonly limits: StreamLimits;
  /** `/chat/` rooms: the room of a channel (`chat:<room>`) for its `/chat/{room}` sockets; undefined for other namespaces. */
  room(channel: string): string | undefined;
}

const CHAT_PREFIX = `${CHAT_NAMESPACE}:`;

/** Past the outbox's last chance to send an entry again, how much longer its repeat is still recognised (the send itself, the link). */
const DEDUP_MARGIN_MS = 10_000;
/** The server API's `idempotency_key` (a publish's Nats-Msg-Id) is recognised at least this long (docs/server-api.md). */
const IDEMPOTENCY_WINDOW_MS = 120_000;

/**
 * A stream's `duplicate_window`: 2 minutes (the server API's idempotency), or the outbox's life
 * (`outboxMaxAgeMs`, ROOM_OUTBOX_MAX_AGE) and a margin when that is longer: a repeat the outbox
 * sends near its end is still recognised (with a fixed 2 minutes, an outbox kept longer could store it twice).
 */
export function dedupWindowMs(outboxMaxAgeMs: number): number {
  return Math.max(IDEMPOTENCY_WINDOW_MS, outboxMaxAgeMs + DEDUP_MARGIN_MS);
}

/** `chat`: the ROOMS stream, `chat.room.<room>` republished to `chat.live.<room>` (as it always was). */
export function roomsStream(limits: StreamLimits): ChannelStream {
  const room = (channel: string): string => channel.slice(CHAT_PREFIX.length);
  return {
    name: ROOMS_STREAM,
    namespace: CHAT_NAMESPACE,
    storeWildcard: ROOM_STORE_WILDCARD,
    liveWildcard: ROOM_LIVE_WILDCARD,
    storeSubject: (channel) => roomSubject(room(channel)),
    liveSubject: (channel) => roomLiveSubject(room(channel)),
    limits,
    room: (channel) => (channel.startsWith(CHAT_PREFIX) ? room(channel) : undefined),
  };
}

/** Any other namespace with history: its own stream `NS_<ns>`, `chan.store.<ns>.<channel>` republished to `chan.live.<ns>.<channel>`. */
export function namespaceStreamOf(ns: Namespace, bounds: { maxBytes: number; maxMsgSize: number; replicas: number; dedupWindowMs: number }): ChannelStream {
  return {
    name: namespaceStream(ns.name),
    namespace: ns.name,
    storeWildcard: channelStoreWildcard(ns.name),
    liveWildcard: channelLiveWildcard(ns.name),
    storeSubject: (channel) => channelStoreSubject(ns.name, channel),
    liveSubject: (channel) => channelLiveSubject(ns.name, channel),
    limits: { size: ns.options.history_size, ttlMs: ns.options.history_ttl_ms, ...bounds },
    room: () => undefined,
  };
}
