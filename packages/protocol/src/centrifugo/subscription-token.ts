import Type, { type Static } from "typebox";
import { validator } from "../validator.ts";

/** Longest `b64info` (base64 text) a subscription token may carry. */
export const MAX_B64INFO_LENGTH = 8192;

/** Base64 text (standard alphabet, padded), as Centrifugo's `b64info` and `b64data` fields carry bytes. */
export const B64_PATTERN = "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$";

/**
 * Channel options replaced for one subscription, each `{"value": bool}` (a subscription token's or
 * a subscribe proxy's `override`). `strict`: no other field is allowed (a backend's answer).
 */
export function subscribeOptionOverride(strict = false) {
  const options = strict ? { additionalProperties: false } : {};
  const BoolValue = Type.Object({ value: Type.Optional(Type.Boolean()) }, options);
  return Type.Object({
    presence: Type.Optional(BoolValue),
    join_leave: Type.Optional(BoolValue),
    force_push_join_leave: Type.Optional(BoolValue),
    force_recovery: Type.Optional(BoolValue),
    force_positioning: Type.Optional(BoolValue),
  }, options);
}
const SubscribeOptionOverride = subscribeOptionOverride();

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
  b64info: Type.Optional(Type.String({ maxLength: MAX_B64INFO_LENGTH, pattern: B64_PATTERN })),
  override: Type.Optional(SubscribeOptionOverride),
});
export type SubscriptionTokenClaims = Static<typeof SubscriptionTokenClaims>;
export const subscriptionTokenClaims = validator(SubscriptionTokenClaims);
