import { ROOM_ID_PATTERN } from "./ids.ts";
import { namespaceOf } from "./channels/names.ts";
import { decodeToken, encodeToken, isSafeToken } from "./subject-token.ts";

/** Every NATS subject the system uses is built here and only here. */

/** JetStream stream that stores every notification, one subject per user. */
export const NOTIFICATIONS_STREAM = "NOTIFICATIONS";
/** Stream subjects: `notify.user.<encoded user id>`. */
export const NOTIFY_USER_WILDCARD = "notify.user.*";
/** Live events (the stored notification with its seq), published by the notifier after the store acks. */
export const NOTIFY_LIVE_PREFIX = "notify.live.";
/** Request subject other services use to send a notification over NATS. */
export const NOTIFIER_SEND = "notifier.send";
/** Samples from every metrics host. */
export const METRICS_WILDCARD = "metrics.host.*";

/**
 * Where each service's request replies arrive (nats.js `inboxPrefix`; a service's own reply
 * subjects go under it too): its NATS user may subscribe under its own prefix only, so no service
 * reads another's replies (deploy/nats/auth.conf). A backend keeps the default `_INBOX`.
 */
export const INBOX_PREFIX = { gateway: "_INBOX_gateway", notifier: "_INBOX_notifier", metrics: "_INBOX_metrics" } as const;

/**
 * Where the requests the services answer get their answers (each ends with `.`; a request's reply
 * subject is the prefix and one or more tokens). A responder answers only under the prefixes of
 * those who may call it (reply-subjects.ts), and each NATS user may publish replies only there.
 */
export const REPLY_PREFIX = {
  /** Every NATS client's default (`_INBOX.<nuid>.<token>`): backends and the command-line tools calling `notifier.send` and `api.*`. */
  clients: "_INBOX.",
  /** The notifier's requests to a gateway (`gateway.api.*`): not its JetStream replies, which stay elsewhere under `_INBOX_notifier.`. */
  gatewayApi: `${INBOX_PREFIX.notifier}.gwapi.`,
  /** A gateway's questions to every gateway (`gateway.control.*`, `presence.query.*`), answered in parts. */
  gather: `${INBOX_PREFIX.gateway}.gather.`,
  /** A gateway's requests to backends (`rpc.*`, and every request a backend answers for a gateway): the only gateway inboxes a backend may write to. */
  proxy: `${INBOX_PREFIX.gateway}.proxy.`,
  /** A gateway's emulation requests to the gateway owning a session (`gateway.emulation.*`): gateways only. */
  emulation: `${INBOX_PREFIX.gateway}.emu.`,
} as const;

function roomToken(room: string): string {
  if (!ROOM_ID_PATTERN.test(room)) throw new RangeError("invalid room id");
  return room;
}

/** JetStream stream that keeps every room's recent publications (history and recovery), one subject per room. */
export const ROOMS_STREAM = "ROOMS";
/** Stream subjects: a gateway publishes a room's publications here. */
export const ROOM_STORE_WILDCARD = "chat.room.*";
/** Where the stream republishes each stored publication (with Nats-Sequence and Nats-Last-Sequence): every gateway relays from here. */
export const ROOM_LIVE_WILDCARD = "chat.live.*";

/** Subject a gateway publishes one room's publications to (stored by the ROOMS stream). */
export const roomSubject = (room: string): string => `chat.room.${roomToken(room)}`;

/** Subject the ROOMS stream republishes one room's stored publications on. */
export const roomLiveSubject = (room: string): string => `chat.live.${roomToken(room)}`;

/** The room id from a room subject (stored or live), or undefined when the subject is not one. */
export function roomFromSubject(subject: string): string | undefined {
  for (const prefix of ["chat.room.", "chat.live."]) {
    if (!subject.startsWith(prefix)) continue;
    const room = subject.slice(prefix.length);
    return ROOM_ID_PATTERN.test(room) ? room : undefined;
  }
  return undefined;
}

/**
 * The channels of namespaces other than `chat` (a CHANNELS_FILE's): `chan.<kind>.<ns>.<channel>`,
 * where `<ns>` is the namespace's token (namespaceToken) and `<channel>` the whole channel name as
 * one base64url token, so no character of a name (`.`, `*`, `>`, `#`, `,`, `$`) can change a
 * subject's meaning. Kinds: `store` (published into the namespace's stream, which keeps its
 * history), `live` (what that stream republishes), `pub` (a namespace without history: core NATS
 * only, fanned out by every gateway on delivery).
 */
const CHANNEL_PREFIX = "chan.";
/** A namespace's name as one subject token: base64url of the name; `_` for channels without a namespace (no name). */
export const namespaceToken = (namespace: string): string => (namespace === "" ? "_" : encodeToken(namespace));
/** The JetStream stream keeping a namespace's history (every namespace with history but `chat`, which keeps ROOMS). */
export const namespaceStream = (namespace: string): string => `NS_${namespaceToken(namespace)}`;
/** Every subject of a namespace's stream (its stream's `subjects`). */
export const channelStoreWildcard = (namespace: string): string => `${CHANNEL_PREFIX}store.${namespaceToken(namespace)}.*`;
/** Where a namespace's stream republishes what it stored. */
export const channelLiveWildcard = (namespace: string): string => `${CHANNEL_PREFIX}live.${namespaceToken(namespace)}.*`;
/** Subject a publication on `channel` (of `namespace`, which keeps history) is stored on. */
export const channelStoreSubject = (namespace: string, channel: string): string => `${CHANNEL_PREFIX}store.${namespaceToken(namespace)}.${encodeToken(channel)}`;
/** Subject a namespace's stream republishes one channel's stored publications on. */
export const channelLiveSubject = (namespace: string, channel: string): string => `${CHANNEL_PREFIX}live.${namespaceToken(namespace)}.${encodeToken(channel)}`;
/** Subject of a publication on `channel` of a namespace without history (core NATS, no stream). */
export const channelPubSubject = (namespace: string, channel: string): string => `${CHANNEL_PREFIX}pub.${namespaceToken(namespace)}.${encodeToken(channel)}`;

/** The stream a store subject (`chat.room.<room>`, `chan.store.<ns>.<channel>`) is kept in, or undefined for any other subject. */
export function streamOfStoreSubject(subject: string): string | undefined {
  if (subject.startsWith("chat.room.")) return ROOMS_STREAM;
  const m = /^chan\.store\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+$/.exec(subject);
  return m ? `NS_${m[1]}` : undefined;
}

/** RPC methods: 1 to 64 characters of A-Z a-z 0-9 _ - (so one subject token as they are). */
export const RPC_METHOD_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Subject of an RPC request a browser makes through a gateway (a backend answers with a plain NATS subscription). */
export function rpcSubject(method: string): string {
  if (!RPC_METHOD_PATTERN.test(method)) throw new RangeError("invalid rpc method");
  return `rpc.${method}`;
}

/**
 * The decisions a gateway hands to backends (docs/proxy.md): a request on one of these (and on
 * `rpc.<method>`), answered by a backend under REPLY_PREFIX.proxy. Backends serve them with a queue
 * subscription; the gateway publishes them, and backends may subscribe to `proxy.>`.
 */
export const PROXY_SUBJECTS = {
  connect: "proxy.connect",
  refresh: "proxy.refresh",
  subscribe: "proxy.subscribe",
  publish: "proxy.publish",
  sub_refresh: "proxy.sub_refresh",
} as const;
export const PROXY_WILDCARD = "proxy.*";

/** Stream subject storing one user's notifications. */
export const userStoreSubject = (userId: string): string => `notify.user.${encodeToken(userId)}`;

/** Subject of one user's live notification events. */
export const userLiveSubject = (userId: string): string => `${NOTIFY_LIVE_PREFIX}${encodeToken(userId)}`;

/** Subject a gateway publishes a delivery receipt on for notification `id` (ids are generated, subject-safe). */
export function deliveredSubject(id: string): string {
  if (!isSafeToken(id)) throw new RangeError("invalid notification id");
  return `notify.delivered.${id}`;
}

/**
 * JetStream stream that keeps the first answer of each keyed notification that waited for delivery
 * (`wait_for_delivery_ms` with an `idempotency_key`), one subject per key, the last message only,
 * for the dedup window: a repeat is answered the same `delivered` by whichever notifier serves it.
 */
export const NOTIFY_ANSWERS_STREAM = "NOTIFY_ANSWERS";
export const NOTIFY_ANSWER_WILDCARD = "notify.answer.*";

/** Subject of one keyed notification's first answer (`dedupId`: the notifier's dedup id, hex). */
export function answerSubject(dedupId: string): string {
  if (!/^[0-9a-f]{64}$/.test(dedupId)) throw new RangeError("invalid dedup id");
  return `notify.answer.${dedupId}`;
}

/** Subject of one metrics host's samples. */
export const metricsSubject = (hostId: string): string => `metrics.host.${encodeToken(hostId)}`;

/** The host id from a metrics subject, or undefined. */
export function hostFromSubject(subject: string): string | undefined {
  if (!subject.startsWith("metrics.host.")) return undefined;
  return decodeToken(subject.slice("metrics.host.".length));
}

/** JetStream's advisories that a stream was created or deleted (stream names are ours, subject-safe). */
export function streamAdvisorySubjects(stream: string): string[] {
  if (!isSafeToken(stream)) throw new RangeError("invalid stream name");
  return [`$JS.EVENT.ADVISORY.STREAM.CREATED.${stream}`, `$JS.EVENT.ADVISORY.STREAM.DELETED.${stream}`];
}

/** JetStream's advisory that a stream (any) has a new leader: publishes refused while it had none can go again. */
export const STREAM_LEADER_ELECTED_WILDCARD = "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.*";

/** JetStream's advisory that `stream` has a new leader (stream names are ours, subject-safe). */
export function streamLeaderElectedSubject(stream: string): string {
  if (!isSafeToken(stream)) throw new RangeError("invalid stream name");
  return `$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.${stream}`;
}

/** Every gateway's heartbeats. */
export const GATEWAY_HEARTBEAT_PREFIX = "gateway.heartbeat.";
export const GATEWAY_HEARTBEAT_WILDCARD = "gateway.heartbeat.*";

/** Subject of one gateway's heartbeats (gateway ids are generated, subject-safe). */
export function gatewayHeartbeatSubject(gateway: string): string {
  if (!isSafeToken(gateway) || gateway.length > 64) throw new RangeError("invalid gateway id");
  return `${GATEWAY_HEARTBEAT_PREFIX}${gateway}`;
}

/** Presence questions about rooms, answered by every gateway. */
export const PRESENCE_QUERY_PREFIX = "presence.query.";
export const PRESENCE_QUERY_WILDCARD = "presence.query.*";

/** Presence questions about channels of other namespaces: `presence.query.<ns>.<channel>` (four tokens, so never a room's). */
export const PRESENCE_CHANNEL_QUERY_WILDCARD = "presence.query.*.*";

/** The room of a `chat:<room>` channel (its presence keeps the subjects rooms always had), or undefined. */
const roomOf = (channel: string): string | undefined => {
  if (!channel.startsWith("chat:")) return undefined;
  const room = channel.slice(5);
  return ROOM_ID_PATTERN.test(room) ? room : undefined;
};

/** `<ns>.<channel>`: a channel of a namespace other than `chat` as two tokens (its namespace's, then its whole name encoded). */
const channelTokens = (channel: string): string => `${namespaceToken(namespaceOf(channel))}.${encodeToken(channel)}`;

/** Subject a presence question about `channel` is asked on: `presence.query.<room>` for `chat:<room>` (as ever), `presence.query.<ns>.<channel>` for any other. */
export function presenceQuerySubject(channel: string): string {
  const room = roomOf(channel);
  return `${PRESENCE_QUERY_PREFIX}${room ?? channelTokens(channel)}`;
}

/** Subject of `channel`'s joins and leaves: `presence.event.<room>` for `chat:<room>`, `presence.event.<ns>.<channel>` for any other. */
export function presenceEventSubject(channel: string): string {
  const room = roomOf(channel);
  return `presence.event.${room ?? channelTokens(channel)}`;
}

/** The channel a presence question is about (`presence.query.<room>`: `chat:<room>`; `presence.query.<ns>.<channel>`: the channel), or undefined. */
export function channelFromPresenceSubject(subject: string): string | undefined {
  if (!subject.startsWith(PRESENCE_QUERY_PREFIX)) return undefined;
  const rest = subject.slice(PRESENCE_QUERY_PREFIX.length).split(".");
  if (rest.length === 1) return ROOM_ID_PATTERN.test(rest[0]!) ? `chat:${rest[0]}` : undefined;
  if (rest.length !== 2) return undefined;
  const channel = decodeToken(rest[1]!);
  return channel !== undefined && roomOf(channel) === undefined && rest[0] === namespaceToken(namespaceOf(channel)) ? channel : undefined;
}

/** Server API requests over NATS (`api.<method>`), answered by the notifiers (queue group `notifier`). */
export const API_PREFIX = "api.";
export const API_WILDCARD = "api.*";

/** Requests a notifier hands to one gateway (queue group `gateway-api`): `gateway.api.<method>`. */
export const GATEWAY_API_PREFIX = "gateway.api.";
export const GATEWAY_API_WILDCARD = "gateway.api.*";
export const GATEWAY_API_QUEUE = "gateway-api";

/** Questions and orders every gateway answers for its own part (`gateway.control.<op>`). */
export const GATEWAY_CONTROL_PREFIX = "gateway.control.";
export const GATEWAY_CONTROL_WILDCARD = "gateway.control.*";

const METHOD_TOKEN = /^[a-z_]{1,32}$/;

/** `prefix` + a method or operation name (lower case and `_` only: one subject token). */
export function methodSubject(prefix: string, name: string): string {
  if (!METHOD_TOKEN.test(name)) throw new RangeError("invalid method name");
  return `${prefix}${name}`;
}

/** The method or operation of a subject under `prefix`, or undefined. */
export function methodFromSubject(prefix: string, subject: string): string | undefined {
  if (!subject.startsWith(prefix)) return undefined;
  const name = subject.slice(prefix.length);
  return METHOD_TOKEN.test(name) ? name : undefined;
}

/**
 * Emulation requests for one gateway's sessions (`gateway.emulation.<gateway>`): the commands an
 * HTTP-streaming or SSE client posted to `/emulation` on whichever gateway it reached, handed to the
 * gateway that owns its session. They carry session secrets: only gateways may publish or subscribe
 * here (deploy/nats/auth.conf).
 */
export const GATEWAY_EMULATION_PREFIX = "gateway.emulation.";

/** Subject of one gateway's emulation requests (gateway ids are generated, subject-safe). */
export function gatewayEmulationSubject(gateway: string): string {
  if (!isSafeToken(gateway) || gateway.length > 64) throw new RangeError("invalid gateway id");
  return `${GATEWAY_EMULATION_PREFIX}${gateway}`;
}
