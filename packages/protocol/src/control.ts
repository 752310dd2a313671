import Type, { type Static } from "typebox";
import { GatewayId } from "./presence.ts";
import { Node } from "./server-api.ts";
import { validator } from "./validator.ts";

/**
 * What a gateway answers on `gateway.control.<op>` (every gateway, each for its own sockets), in
 * `parts` messages like a PresenceAnswer: `done` (subscribe, unsubscribe, disconnect, refresh: connections acted on),
 * `channels` (`[channel, members]` pairs), `node` (info).
 */
export const ControlAnswer = Type.Object({
  gateway: GatewayId,
  part: Type.Integer({ minimum: 0, maximum: 9999 }),
  parts: Type.Integer({ minimum: 1, maximum: 10000 }),
  done: Type.Optional(Type.Integer({ minimum: 0 })),
  channels: Type.Optional(Type.Array(Type.Tuple([Type.String({ maxLength: 512 }), Type.Integer({ minimum: 0 })]))),
  node: Type.Optional(Node),
});
export type ControlAnswer = Static<typeof ControlAnswer>;
export const controlAnswer = validator(ControlAnswer);

/** What every gateway answers for its own sockets (`gateway.control.<op>`). */
export const GATEWAY_CONTROL_OPS = ["subscribe", "unsubscribe", "disconnect", "refresh", "channels", "info"] as const;
