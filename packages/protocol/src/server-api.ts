import Type, { type Static, type TSchema } from "typebox";
import { validator, type Validator } from "./validator.ts";

/**
 * The server API (Centrifugo's, for its server SDKs): `POST /api/<method>` on the notifier and NATS
 * requests on `api.<method>`, the same JSON both ways. An answer is `{"result": ...}` or
 * `{"error": {"code", "message"}}` (codes as in the client protocol); `batch` answers
 * `{"replies": [...]}` at the top level, as Centrifugo does.
 */

/** Every request object of the API: a field it does not know is 107, as is a value of the wrong type. */
const strict = { additionalProperties: false } as const;

const Channel = Type.String({ minLength: 1, maxLength: 512, description: "A channel: `chat:<room>`, `#<user>` or `system:monitor`." });
const Offset = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const EpochText = Type.String({ maxLength: 64 });
const User = Type.String({ maxLength: 256, description: "A user id (the JWT `sub` of their connections)." });
const ClientId = Type.String({ minLength: 1, maxLength: 64, description: "One connection's client id (the connect result's `client`)." });
const IdempotencyKey = Type.String({ minLength: 1, maxLength: 256, description: "Scoped to the channel: a repeat within 2 minutes stores nothing and answers the first publication's offset." });
const SkipHistory = Type.Boolean({ description: "Delivered to the subscribers there are now, not stored: no offset, not in history, not recovered. The answer is `{}`." });
const Tags = Type.Record(Type.String({ maxLength: 256 }), Type.String({ maxLength: 1024 }), {
  maxProperties: 64,
  description: "The publication's `tags`, in every push of it (JSON and Protobuf) and in history. Counted with the data: the publication as stored is at most MAX_MESSAGE_BYTES plus 2 KiB (107 otherwise).",
});
const Delta = Type.Boolean({ description: "Sent as a Fossil delta against the channel's previous publication to subscribers that asked for `delta: \"fossil\"` in a namespace that allows it (`allowed_delta_types`); namespaces with `delta_publish` send every publication so." });

/** An API error: a client-protocol code and its message. */
export const ApiError = Type.Object({ code: Type.Integer(), message: Type.String() }, { description: "100 internal (retry), 102 unknown channel, 103 permission denied, 104 not found, 107 bad request, 108 not available, 112 unrecoverable position." });
export type ApiError = Static<typeof ApiError>;

export const ClientInfo = Type.Object({ client: Type.String(), user: Type.String() });
const Publication = Type.Object({ data: Type.Unknown(), info: Type.Optional(ClientInfo), offset: Type.Optional(Offset), tags: Type.Optional(Type.Record(Type.String(), Type.String())) });

export const PublishRequest = Type.Object({
  channel: Channel,
  data: Type.Unknown({ description: "Any JSON value (nested at most 64 levels; at most MAX_MESSAGE_BYTES, 64 KiB by default, as JSON, else 107). On `chat:<room>`, an object with a string `text` also reaches `/chat/<room>` sockets as `Room <room>: <text>`." }),
  idempotency_key: Type.Optional(IdempotencyKey),
  skip_history: Type.Optional(SkipHistory),
  tags: Type.Optional(Tags),
  delta: Type.Optional(Delta),
}, strict);
export const PublishResult = Type.Object({ offset: Type.Optional(Offset), epoch: Type.Optional(EpochText) }, { description: "The publication's place in the channel's history." });

export const BroadcastRequest = Type.Object({
  channels: Type.Array(Channel, { minItems: 1, maxItems: 1000 }),
  data: Type.Unknown({ description: "As `publish`'s; over MAX_MESSAGE_BYTES the whole call is 107 and nothing is published." }),
  idempotency_key: Type.Optional(IdempotencyKey),
  skip_history: Type.Optional(SkipHistory),
  tags: Type.Optional(Tags),
  delta: Type.Optional(Delta),
}, strict);
const PublishReply = Type.Union([Type.Object({ result: PublishResult }), Type.Object({ error: ApiError })]);
export const BroadcastResult = Type.Object({ responses: Type.Array(PublishReply, { description: "One per channel, in order." }) });

export const HistoryRequest = Type.Object({
  channel: Channel,
  limit: Type.Optional(Type.Integer({ minimum: -1, maximum: 1_000_000, description: "0 or absent: only the position; -1: all kept." })),
  since: Type.Optional(Type.Object({ offset: Type.Optional(Offset), epoch: Type.Optional(EpochText) }, strict)),
  reverse: Type.Optional(Type.Boolean()),
}, strict);
export const HistoryResult = Type.Object({ publications: Type.Array(Publication), offset: Offset, epoch: EpochText });

export const ChannelRequest = Type.Object({ channel: Channel }, strict);
export const PresenceResult = Type.Object({ presence: Type.Record(Type.String(), ClientInfo) });
export const PresenceStatsResult = Type.Object({ num_clients: Type.Integer({ minimum: 0 }), num_users: Type.Integer({ minimum: 0 }) });

export const UnsubscribeRequest = Type.Object({
  channel: Channel,
  user: User,
  client: Type.Optional(ClientId),
}, strict);

export const SubscribeRequest = Type.Object({
  user: User,
  channel: Channel,
  client: Type.Optional(ClientId),
  info: Type.Optional(Type.Unknown({ description: "The subscriber's channel info (a JSON value): in its publications, presence, joins and leaves." })),
  data: Type.Optional(Type.Unknown({ description: "A JSON value for the client: the subscribe push's `data`." })),
}, strict);

export const RefreshRequest = Type.Object({
  user: User,
  client: Type.Optional(ClientId),
  expired: Type.Optional(Type.Boolean({ description: "Close the connections now with 3005 `connection expired`: the SDKs connect again with a new token." })),
  expire_at: Type.Optional(Type.Integer({ minimum: 0, maximum: 253402300799, description: "Unix seconds: the connections expire then (3005 unless refreshed again); 0: never." })),
}, strict);

export const DisconnectRequest = Type.Object({
  user: User,
  client: Type.Optional(ClientId),
  disconnect: Type.Optional(
    Type.Object({ code: Type.Integer({ minimum: 3000, maximum: 4999 }), reason: Type.String({ maxLength: 123 }) }, { ...strict, description: "Default: 3503 `force disconnect` (the SDKs do not reconnect)." }),
  ),
}, strict);

export const ChannelsRequest = Type.Object({ pattern: Type.Optional(Type.String({ maxLength: 512, description: "A glob (`*` any run of characters, `?` one character): only matching channels." })) }, strict);
export const ChannelsResult = Type.Object({ channels: Type.Record(Type.String(), Type.Object({ num_clients: Type.Integer({ minimum: 0 }) })) });

export const Node = Type.Object({
  uid: Type.String({ description: "The gateway's id." }),
  name: Type.String(),
  version: Type.String(),
  num_clients: Type.Integer({ minimum: 0, description: "Open WebSockets, every endpoint." }),
  num_users: Type.Integer({ minimum: 0, description: "Distinct users with a socket (tokens' `sub`), every socket without one (anonymous, `/chat/`) counted as the one user \"\", as `presence_stats` counts." }),
  num_channels: Type.Integer({ minimum: 0 }),
  num_subs: Type.Integer({ minimum: 0, description: "Channel memberships, summed over channels." }),
  uptime: Type.Integer({ minimum: 0, description: "Seconds." }),
});
export const InfoResult = Type.Object({ nodes: Type.Array(Node, { description: "One per live gateway." }) });

export const Empty = Type.Object({}, strict);
/** What methods that only act answer. */
export const Done = Type.Object({});

/** The methods `batch` may carry (every method but batch itself). */
export const BATCHABLE = ["publish", "broadcast", "subscribe", "unsubscribe", "disconnect", "refresh", "history", "history_remove", "presence", "presence_stats", "channels", "info"] as const;
export type BatchableMethod = (typeof BATCHABLE)[number];

export const BatchRequest = Type.Object({
  commands: Type.Array(Type.Record(Type.String(), Type.Unknown(), { description: "One key: the method, e.g. `{\"publish\": {...}}`." }), { minItems: 1, maxItems: 1000 }),
  parallel: Type.Optional(Type.Boolean({ description: "Run the commands at once (replies keep their order); default one after another." })),
}, strict);
export const BatchResult = Type.Object({ replies: Type.Array(Type.Record(Type.String(), Type.Unknown()), { description: "One per command, in order: `{\"<method>\": result}` or `{\"error\": {...}}`." }) });

/** One method: what it takes, what it answers, one line for the docs. */
export interface ApiMethod {
  request: TSchema;
  result: TSchema;
  validator: Validator<unknown>;
  summary: string;
}

function method(request: TSchema, result: TSchema, summary: string): ApiMethod {
  return { request, result, validator: validator(request) as Validator<unknown>, summary };
}

/** Every method of the server API. */
export const API_METHODS = {
  publish: method(PublishRequest, PublishResult, "Publish into a channel (`chat:<room>`: protocol subscribers and `/chat/<room>` sockets alike). `#<user>` is refused (103): notifications go through `POST /notifications`."),
  broadcast: method(BroadcastRequest, BroadcastResult, "Publish the same data into many channels; one response per channel."),
  history: method(HistoryRequest, HistoryResult, "Kept publications of a room, or a user's notifications (`#<user>`)."),
  history_remove: method(ChannelRequest, Done, "Remove the kept publications of a channel with history (its stream's messages of that channel). Clients recovering from before it are not recovered."),
  presence: method(ChannelRequest, PresenceResult, "Every client subscribed to a room, on every gateway."),
  presence_stats: method(ChannelRequest, PresenceStatsResult, "Counts of a room's clients and distinct users, on every gateway."),
  subscribe: method(SubscribeRequest, Done, "Subscribe a user's protocol connections (or one client) to a channel, on every gateway: a server-side subscription, told with a subscribe push."),
  unsubscribe: method(UnsubscribeRequest, Done, "Unsubscribe a user's connections (or one client) from a channel, on every gateway."),
  disconnect: method(DisconnectRequest, Done, "Close every connection of a user (or one client), on every gateway, every endpoint."),
  refresh: method(RefreshRequest, Done, "Expire a user's protocol connections (or one client) now, or set when they expire, on every gateway."),
  channels: method(ChannelsRequest, ChannelsResult, "Channels with at least one member, with their counts, gathered from every gateway."),
  info: method(Empty, InfoResult, "One entry per live gateway."),
  batch: method(BatchRequest, BatchResult, "Many commands in one request; answered `{\"replies\": [...]}` at the top level."),
} satisfies Record<string, ApiMethod>;
export type ApiMethodName = keyof typeof API_METHODS;

export type PublishRequest = Static<typeof PublishRequest>;
export type BroadcastRequest = Static<typeof BroadcastRequest>;
export type HistoryRequest = Static<typeof HistoryRequest>;
export type ChannelRequest = Static<typeof ChannelRequest>;
export type UnsubscribeRequest = Static<typeof UnsubscribeRequest>;
export type DisconnectRequest = Static<typeof DisconnectRequest>;
export type SubscribeRequest = Static<typeof SubscribeRequest>;
export type RefreshRequest = Static<typeof RefreshRequest>;
export type ChannelsRequest = Static<typeof ChannelsRequest>;
export type BatchRequest = Static<typeof BatchRequest>;
export type PublishResult = Static<typeof PublishResult>;
export type InfoNode = Static<typeof Node>;

/** True when `name` is a method of the server API. */
export const isApiMethod = (name: string): name is ApiMethodName => Object.hasOwn(API_METHODS, name);

/** Largest request body (HTTP) or payload (NATS) of the server API. */
export const MAX_API_REQUEST_BYTES = 1024 * 1024;

/** An API answer: a result, or an error. */
export type ApiAnswer = { result: unknown } | { error: ApiError };
/** Checks an API answer read from NATS (a gateway's, on `gateway.api.<method>`). */
export const apiAnswer = validator(Type.Union([Type.Object({ result: Type.Unknown() }), Type.Object({ error: ApiError })]));

/** The server API methods a notifier hands to one gateway (`gateway.api.<method>`): the ones that need the gateways' sockets or presence. */
export const GATEWAY_API_METHODS = ["history", "presence", "presence_stats", "subscribe", "unsubscribe", "disconnect", "refresh", "channels", "info"] as const;
