import Type, { type Static, type TSchema } from "typebox";
import { B64_PATTERN, subscribeOptionOverride } from "../centrifugo/subscription-token.ts";
import { UserId } from "../ids.ts";

/**
 * What a backend answers (docs/proxy.md): exactly one of `{"result": {...}}`, `{"error": {...}}` or
 * `{"disconnect": {...}}`, with the field names of Centrifugo's proxy answers. Checked strictly: a
 * field that is not listed here, a wrong type or a value out of range makes the whole answer
 * malformed (the client gets a temporary error 100 and the gateway logs why), so a typo such as
 * `expireAt` is found at once instead of being silently ignored.
 */

/** The largest answer read (NATS's default `max_payload` is the same). */
export const MAX_PROXY_ANSWER_BYTES = 1024 * 1024;
/** Error codes a backend may answer with: Centrifugo's own (100-112, e.g. 103 permission denied) and the application's (400-1999, as Centrifugo asks). */
export const PROXY_ERROR_CODES = { min: 100, max: 1999 } as const;
/** Close codes a backend may disconnect with: 3000-3499 and 4000-4499 the SDKs reconnect, 3500-3999 and 4500-4999 they stop. */
export const PROXY_DISCONNECT_CODES = { min: 3000, max: 4999 } as const;
/** A close reason's limit in UTF-8 bytes (a WebSocket close frame's). */
export const MAX_DISCONNECT_REASON_BYTES = 123;
/** `expire_at` at most: the last second of year 9999 (Unix seconds). */
const MAX_EXPIRE_AT = 253_402_300_799;
/** At most this many server-side channels in a connect answer (a connection's channel limit). */
export const MAX_PROXY_CHANNELS = 128;

const strict = { additionalProperties: false } as const;
const B64 = (description: string) => Type.String({ pattern: B64_PATTERN, description });
const json = (description: string) => Type.Unknown({ description });
const expireAt = (what: string) =>
  Type.Integer({ minimum: 0, maximum: MAX_EXPIRE_AT, description: `When the ${what} expires, in Unix seconds; 0 or left out: never.` });
const Channel = Type.String({ minLength: 1, maxLength: 512 });

/** `{"error": ...}`: refused with this error (it reaches the client as it is). */
export const ProxyError = Type.Object({
  code: Type.Integer({ minimum: PROXY_ERROR_CODES.min, maximum: PROXY_ERROR_CODES.max, description: "100-1999: Centrifugo's codes (103 permission denied, ...) or the application's (400-1999)." }),
  message: Type.Optional(Type.String({ maxLength: 1024 })),
  temporary: Type.Optional(Type.Boolean({ description: "True: the SDK tries again by itself (with backoff)." })),
}, strict);
export type ProxyError = Static<typeof ProxyError>;

/** `{"disconnect": ...}`: the connection is closed with this code and reason. */
export const ProxyDisconnect = Type.Object({
  code: Type.Integer({ minimum: PROXY_DISCONNECT_CODES.min, maximum: PROXY_DISCONNECT_CODES.max, description: "3000-4999: 4000-4499 the SDK reconnects, 4500-4999 it stops (and Centrifugo's 3000-3999 alike)." }),
  reason: Type.Optional(Type.String({ maxLength: MAX_DISCONNECT_REASON_BYTES, description: `At most ${MAX_DISCONNECT_REASON_BYTES} bytes of UTF-8.` })),
}, strict);
export type ProxyDisconnect = Static<typeof ProxyDisconnect>;

/** Options of one server-side subscription a connect answer makes (`subs`). */
export const SubscribeOptions = Type.Object({
  expire_at: Type.Optional(expireAt("subscription")),
  info: Type.Optional(json("The subscriber's channel info (in presence, join/leave and its publications' `info`).")),
  b64info: Type.Optional(B64("The same as bytes, base64; it wins over `info`.")),
  data: Type.Optional(json("Sent to the client with this subscription in the connect result.")),
  b64data: Type.Optional(B64("The same as base64 of UTF-8 JSON; it wins over `data`.")),
  override: Type.Optional(subscribeOptionOverride(true)),
}, strict);
export type SubscribeOptions = Static<typeof SubscribeOptions>;

/** `proxy.connect`'s result: who the client is. */
export const ConnectResult = Type.Object({
  user: Type.Union([Type.Literal(""), UserId], { description: "The user (\"\": an anonymous connection)." }),
  expire_at: Type.Optional(expireAt("connection")),
  info: Type.Optional(json("The connection's info (in presence, join/leave and its publications' `info`).")),
  b64info: Type.Optional(B64("The same as bytes, base64; it wins over `info`.")),
  data: Type.Optional(json("Sent to the client in the connect result.")),
  b64data: Type.Optional(B64("The same as base64 of UTF-8 JSON; it wins over `data`.")),
  channels: Type.Optional(Type.Array(Channel, { maxItems: MAX_PROXY_CHANNELS, description: "Channels the connection is subscribed to by the server." })),
  subs: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 512 }), SubscribeOptions, { maxProperties: MAX_PROXY_CHANNELS, description: "The same, each with its options." })),
  meta: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "Kept with the connection and sent with each of its later proxy requests; never shown to clients." })),
}, strict);
export type ConnectResult = Static<typeof ConnectResult>;

/** `proxy.refresh`'s result: whether the connection lives on, and until when. */
export const RefreshResult = Type.Object({
  expired: Type.Optional(Type.Boolean({ description: "True: the connection is closed with 3005 (connection expired)." })),
  expire_at: Type.Optional(expireAt("connection")),
  info: Type.Optional(json("The connection's new info.")),
  b64info: Type.Optional(B64("The same as bytes, base64; it wins over `info`.")),
}, strict);
export type RefreshResult = Static<typeof RefreshResult>;

/** `proxy.subscribe`'s result: the subscription is granted. */
export const SubscribeResult = Type.Object({
  expire_at: Type.Optional(expireAt("subscription")),
  info: Type.Optional(json("The subscriber's channel info.")),
  b64info: Type.Optional(B64("The same as bytes, base64; it wins over `info`.")),
  data: Type.Optional(json("Sent to the client in the subscribe result.")),
  b64data: Type.Optional(B64("The same as base64 of UTF-8 JSON; it wins over `data`.")),
  override: Type.Optional(subscribeOptionOverride(true)),
}, strict);
export type SubscribeResult = Static<typeof SubscribeResult>;

/** `proxy.publish`'s result: the publication is accepted. */
export const PublishResult = Type.Object({
  data: Type.Optional(json("Published instead of what the client sent.")),
  b64data: Type.Optional(B64("The same as base64 of UTF-8 JSON; it wins over `data`.")),
  skip_history: Type.Optional(Type.Boolean({ description: "True: delivered to subscribers, not kept in the channel's history." })),
}, strict);
export type PublishResult = Static<typeof PublishResult>;

/** `proxy.sub_refresh`'s result: whether the subscription lives on, and until when. */
export const SubRefreshResult = Type.Object({
  expired: Type.Optional(Type.Boolean({ description: "True: the subscription ends." })),
  expire_at: Type.Optional(expireAt("subscription")),
  info: Type.Optional(json("The subscriber's new channel info.")),
  b64info: Type.Optional(B64("The same as bytes, base64; it wins over `info`.")),
}, strict);
export type SubRefreshResult = Static<typeof SubRefreshResult>;

/** `rpc.<method>`'s result: the answer to the client. */
export const RpcResult = Type.Object({
  data: Type.Optional(json("The rpc result's `data`.")),
  b64data: Type.Optional(B64("The same as base64 of UTF-8 JSON; it wins over `data`.")),
}, strict);
export type RpcResult = Static<typeof RpcResult>;

/** Every answer: exactly one of `result`, `error` and `disconnect`. */
const envelope = <R extends TSchema>(result: R, description: string) =>
  Type.Union([Type.Object({ result }, strict), Type.Object({ error: ProxyError }, strict), Type.Object({ disconnect: ProxyDisconnect }, strict)], { description });

export const ConnectAnswer = envelope(ConnectResult, "The answer on `proxy.connect`.");
export const RefreshAnswer = envelope(RefreshResult, "The answer on `proxy.refresh`.");
export const SubscribeAnswer = envelope(SubscribeResult, "The answer on `proxy.subscribe`.");
export const PublishAnswer = envelope(PublishResult, "The answer on `proxy.publish`.");
export const SubRefreshAnswer = envelope(SubRefreshResult, "The answer on `proxy.sub_refresh`.");
export const RpcAnswer = envelope(RpcResult, "The answer on `rpc.<method>`.");
