import Type, { type Static } from "typebox";
import { validator } from "../validator.ts";

/** An offset in a channel's stream: a JetStream sequence (a whole number, at most 2^53 - 1 here). */
const Offset = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Epoch = Type.String({ maxLength: 64 });
const Channel = Type.String({ maxLength: 512, description: "A channel name: chat:<room>, #<user>, system:monitor, or a channel of a namespace the CHANNELS_FILE defines." });
const Token = Type.String({ maxLength: 16384 });

/** A recoverable position the client sends back (connect `subs`, subscribe). */
export const SubscribeRecovery = Type.Object({
  recover: Type.Optional(Type.Boolean()),
  offset: Type.Optional(Offset),
  epoch: Type.Optional(Epoch),
});

export const ConnectRequest = Type.Object({
  token: Type.Optional(Token),
  data: Type.Optional(Type.Unknown()),
  subs: Type.Optional(Type.Record(Type.String({ maxLength: 512 }), SubscribeRecovery)),
  name: Type.Optional(Type.String({ maxLength: 256 })),
  version: Type.Optional(Type.String({ maxLength: 256 })),
  headers: Type.Optional(Type.Record(Type.String(), Type.String())),
});
export type ConnectRequest = Static<typeof ConnectRequest>;

export const SubscribeRequest = Type.Object({
  channel: Channel,
  token: Type.Optional(Token),
  recover: Type.Optional(Type.Boolean()),
  offset: Type.Optional(Offset),
  epoch: Type.Optional(Epoch),
  data: Type.Optional(Type.Unknown()),
  positioned: Type.Optional(Type.Boolean()),
  recoverable: Type.Optional(Type.Boolean()),
  join_leave: Type.Optional(Type.Boolean()),
  delta: Type.Optional(Type.String({ maxLength: 64 })),
  flag: Type.Optional(Type.Integer()),
  /** The subscription type: 0 (or absent) a stream; 1-4 Centrifugo's map and shared poll types, which are not served here (108). */
  type: Type.Optional(Type.Integer()),
});
export type SubscribeRequest = Static<typeof SubscribeRequest>;

export const ChannelRequest = Type.Object({ channel: Channel });
export type ChannelRequest = Static<typeof ChannelRequest>;

export const PublishRequest = Type.Object({ channel: Channel, data: Type.Unknown() });
export type PublishRequest = Static<typeof PublishRequest>;

export const HistoryRequest = Type.Object({
  channel: Channel,
  limit: Type.Optional(Type.Integer({ minimum: -1, maximum: 1_000_000 })),
  since: Type.Optional(Type.Object({ offset: Type.Optional(Offset), epoch: Type.Optional(Epoch) })),
  reverse: Type.Optional(Type.Boolean()),
});
export type HistoryRequest = Static<typeof HistoryRequest>;

export const RpcRequest = Type.Object({ method: Type.Optional(Type.String({ maxLength: 256 })), data: Type.Optional(Type.Unknown()) });
export type RpcRequest = Static<typeof RpcRequest>;

export const RefreshRequest = Type.Object({ token: Token });
export type RefreshRequest = Static<typeof RefreshRequest>;

export const SubRefreshRequest = Type.Object({ channel: Channel, token: Token });
export type SubRefreshRequest = Static<typeof SubRefreshRequest>;

export const SendRequest = Type.Object({ data: Type.Optional(Type.Unknown()) });
export type SendRequest = Static<typeof SendRequest>;

/** The request schema of every method the gateway answers. */
export const METHODS = {
  connect: validator(ConnectRequest),
  subscribe: validator(SubscribeRequest),
  unsubscribe: validator(ChannelRequest),
  publish: validator(PublishRequest),
  presence: validator(ChannelRequest),
  presence_stats: validator(ChannelRequest),
  history: validator(HistoryRequest),
  rpc: validator(RpcRequest),
  refresh: validator(RefreshRequest),
  sub_refresh: validator(SubRefreshRequest),
  send: validator(SendRequest),
} as const;
export type Method = keyof typeof METHODS;
export const METHOD_NAMES = Object.keys(METHODS) as Method[];

/** True when `name` is a method of the protocol: an own name of METHODS (`toString`, `__proto__` and the like are not). */
export const isMethod = (name: string): name is Method => Object.hasOwn(METHODS, name);

/** A command: `{"id": N, "<method>": {...}}`; `{}` alone is a pong. */
export const Command = Type.Object({ id: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295 })) });
export const command = validator(Command);

/**
 * Who published: the protocol's ClientInfo (`conn_info`: the publisher's connection info, from the
 * connect proxy's answer; `chan_info`: its channel info, from its subscription token or the subscribe proxy's answer).
 */
export const ClientInfo = Type.Object({
  user: Type.String({ maxLength: 256 }),
  client: Type.String({ maxLength: 64 }),
  conn_info: Type.Optional(Type.Unknown()),
  chan_info: Type.Optional(Type.Unknown()),
});
export type ClientInfo = Static<typeof ClientInfo>;
