import Type, { type Static } from "typebox";
import { validator } from "../validator.ts";

/** Longest `b64info` (base64 text) a subscription token may carry. */
export const MAX_B64INFO_LENGTH = 8192;

const BoolValue = Type.Object({ value: Type.Optional(Type.Boolean()) });

/**
 * The claims of a Centrifugo subscription JWT beyond the registered ones (whose signature, `exp`,
 * `nbf`, `iss` and `aud` the JWT library checks): `sub` the user ("" or absent: anonymous),
 * `channel`, `exp` (required here), and optionally `client` (the one connection it is for),
 * `expire_at` (when the subscription expires, seconds; 0: never; else `exp`), `info` (channel
 * info, any JSON) or `b64info` (the same as base64 bytes), and `override` (channel options
 * replaced for this subscription, each `{"value": bool}`). Unknown claims are let through, as
 * Centrifugo does.
 */
export const SubscriptionTokenClaims = Type.Object({
  sub: Type.Optional(Type.String({ maxLength: 1024 })),
  channel: Type.String({ minLength: 1, maxLength: 1024 }),
  client: Type.Optional(Type.String({ maxLength: 1024 })),
  exp: Type.Number(),
  expire_at: Type.Optional(Type.Integer({ minimum: 0 })),
  info: Type.Optional(Type.Unknown()),
  b64info: Type.Optional(Type.String({ maxLength: MAX_B64INFO_LENGTH, pattern: "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$" })),
  override: Type.Optional(
    Type.Object({
      presence: Type.Optional(BoolValue),
      join_leave: Type.Optional(BoolValue),
      force_push_join_leave: Type.Optional(BoolValue),
      force_recovery: Type.Optional(BoolValue),
      force_positioning: Type.Optional(BoolValue),
    }),
  ),
});
export type SubscriptionTokenClaims = Static<typeof SubscriptionTokenClaims>;
export const subscriptionTokenClaims = validator(SubscriptionTokenClaims);
