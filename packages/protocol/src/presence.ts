import Type, { type Static } from "typebox";
import { validator } from "./validator.ts";

/** A gateway's id: the origin id of what it publishes (random, subject-safe). */
export const GatewayId = Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$", minLength: 1, maxLength: 64 });
const ClientId = Type.String({ minLength: 1, maxLength: 64 });
const User = Type.String({ maxLength: 256 });
/** A member's channel info (a subscription token's or the subscribe proxy's `info`), when it has one. */
const ChanInfo = Type.Unknown();
/** A member's connection info (the connect proxy's `info`), when it has one. */
const ConnInfo = Type.Unknown();
/** A member: `[client, user]`, `[client, user, chan_info]`, or `[client, user, chan_info, conn_info]` (`chan_info` null there: none). */
const Member = Type.Union([Type.Tuple([ClientId, User]), Type.Tuple([ClientId, User, ChanInfo]), Type.Tuple([ClientId, User, ChanInfo, ConnInfo])]);

/**
 * A gateway is alive: published on `gateway.heartbeat.<gateway>` every GATEWAY_HEARTBEAT_INTERVAL (5 s). `gen` grows each time
 * its NATS link comes back, so others know it may have missed (and they may have missed) events.
 */
export const GatewayHeartbeat = Type.Object({ gen: Type.Integer({ minimum: 0 }) });
export type GatewayHeartbeat = Static<typeof GatewayHeartbeat>;
export const gatewayHeartbeat = validator(GatewayHeartbeat);

/**
 * A presence question about one channel, asked of every gateway: its members (`list`) or their
 * counts (`stats`), as presence reports them; or every member whose joins and leaves are told
 * (`members`: those kept out of presence by a token's override too), for a gateway that keeps the
 * others' members to announce their joins and leaves.
 */
export const PresenceQuery = Type.Object({ kind: Type.Union([Type.Literal("list"), Type.Literal("stats"), Type.Literal("members")]) });
export type PresenceQuery = Static<typeof PresenceQuery>;
export const presenceQuery = validator(PresenceQuery);

/**
 * One gateway's answer to a PresenceQuery, in `parts` messages (large rooms do not fit one NATS
 * message). `list`: `members`, each `[client, user]` (with its channel info third and its connection info fourth, when it has them). `stats`: `clients` (its count of members)
 * and `users` (its distinct users), both split over the parts.
 */
export const PresenceAnswer = Type.Object({
  gateway: GatewayId,
  part: Type.Integer({ minimum: 0, maximum: 9999 }),
  parts: Type.Integer({ minimum: 1, maximum: 10000 }),
  members: Type.Optional(Type.Array(Member)),
  clients: Type.Optional(Type.Integer({ minimum: 0 })),
  users: Type.Optional(Type.Array(User)),
});
export type PresenceAnswer = Static<typeof PresenceAnswer>;
export const presenceAnswer = validator(PresenceAnswer);

/** Most joins and leaves in one PresenceEvent (a burst is sent in several). */
export const MAX_PRESENCE_CHANGES = 1000;

/**
 * Members that joined or left a channel on a gateway, in order: published on
 * `presence.event.<room>` (`chat:<room>`) or `presence.event.<ns>.<channel>`, the changes of one
 * event-loop turn together (a connect storm is a few messages, not one per socket). Each change is
 * `[kind, client, user]`, with the member's channel info fourth when it has one, and its connection
 * info fifth when it has one (the channel info null then when it has none).
 */
export const PresenceEvent = Type.Object({
  gateway: GatewayId,
  changes: Type.Array(
    Type.Union([
      Type.Tuple([Type.Union([Type.Literal("join"), Type.Literal("leave")]), ClientId, User]),
      Type.Tuple([Type.Union([Type.Literal("join"), Type.Literal("leave")]), ClientId, User, ChanInfo]),
      Type.Tuple([Type.Union([Type.Literal("join"), Type.Literal("leave")]), ClientId, User, ChanInfo, ConnInfo]),
    ]),
    { minItems: 1, maxItems: MAX_PRESENCE_CHANGES },
  ),
});
export type PresenceEvent = Static<typeof PresenceEvent>;
export const presenceEvent = validator(PresenceEvent);
