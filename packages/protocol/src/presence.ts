import Type, { type Static } from "typebox";
import { validator } from "./validator.ts";

/** A gateway's id: the origin id of what it publishes (random, subject-safe). */
export const GatewayId = Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$", minLength: 1, maxLength: 64 });
const ClientId = Type.String({ minLength: 1, maxLength: 64 });
const User = Type.String({ maxLength: 256 });

/**
 * A gateway is alive: published on `gateway.heartbeat.<gateway>` every GATEWAY_HEARTBEAT_INTERVAL (5 s). `gen` grows each time
 * its NATS link comes back, so others know it may have missed (and they may have missed) events.
 */
export const GatewayHeartbeat = Type.Object({ gen: Type.Integer({ minimum: 0 }) });
export type GatewayHeartbeat = Static<typeof GatewayHeartbeat>;
export const gatewayHeartbeat = validator(GatewayHeartbeat);

/** A presence question about one room, asked of every gateway: its members (`list`) or their counts (`stats`). */
export const PresenceQuery = Type.Object({ kind: Type.Union([Type.Literal("list"), Type.Literal("stats")]) });
export type PresenceQuery = Static<typeof PresenceQuery>;
export const presenceQuery = validator(PresenceQuery);

/**
 * One gateway's answer to a PresenceQuery, in `parts` messages (large rooms do not fit one NATS
 * message). `list`: `members`, each `[client, user]`. `stats`: `clients` (its count of members)
 * and `users` (its distinct users), both split over the parts.
 */
export const PresenceAnswer = Type.Object({
  gateway: GatewayId,
  part: Type.Integer({ minimum: 0, maximum: 9999 }),
  parts: Type.Integer({ minimum: 1, maximum: 10000 }),
  members: Type.Optional(Type.Array(Type.Tuple([ClientId, User]))),
  clients: Type.Optional(Type.Integer({ minimum: 0 })),
  users: Type.Optional(Type.Array(User)),
});
export type PresenceAnswer = Static<typeof PresenceAnswer>;
export const presenceAnswer = validator(PresenceAnswer);

/** Most joins and leaves in one PresenceEvent (a burst is sent in several). */
export const MAX_PRESENCE_CHANGES = 1000;

/**
 * Members that joined or left a room on a gateway, in order: published on `presence.event.<room>`,
 * the changes of one event-loop turn together (a connect storm is a few messages, not one per socket).
 */
export const PresenceEvent = Type.Object({
  gateway: GatewayId,
  changes: Type.Array(Type.Tuple([Type.Union([Type.Literal("join"), Type.Literal("leave")]), ClientId, User]), { minItems: 1, maxItems: MAX_PRESENCE_CHANGES }),
});
export type PresenceEvent = Static<typeof PresenceEvent>;
export const presenceEvent = validator(PresenceEvent);
