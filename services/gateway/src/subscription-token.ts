import type { JWTVerifyGetKey } from "jose";
import { centrifugo, type SubscriptionOverride } from "@rt/protocol";
import type { GatewayConfig } from "./config.ts";
import { JwtKeys, remoteKeySet } from "./jwt-keys.ts";

const { ErrorCode, DisconnectCode } = centrifugo;

/** Who and what a subscription token must be for: the connection's user ("" when anonymous) and client id, and the channel asked. */
export interface SubscriptionTarget {
  user: string;
  client: string;
  channel: string;
}

/** What a good subscription token grants, beyond the subscription itself. */
export interface SubscriptionGrant {
  /** When the subscription expires (ms since the epoch): `expire_at` when the token has it (0: never), else `exp`. */
  expiresAt: number | undefined;
  /** The subscriber's channel info as a JSON value: `info`, or `b64info` decoded (it wins over `info`, as in Centrifugo); undefined: none. */
  info: unknown;
  /** `b64info`, decoded: the channel info as bytes (UTF-8 JSON: the value of `info` here). */
  infoBytes: Uint8Array | undefined;
  /** `override`: channel options replaced for this subscription. */
  override: SubscriptionOverride | undefined;
}

/**
 * Why a token was refused: `expired` (`exp` passed, or `nbf` not yet reached, as Centrifugo
 * counts it), `invalid` (malformed, a bad signature, an algorithm not taken, a missing or wrong
 * claim), or made for another user, client or channel.
 */
export type SubscriptionTokenFailure = "expired" | "invalid" | "wrong_user" | "wrong_client" | "wrong_channel";

/** A subscription token's verdict. */
export type SubscriptionTokenCheck = { ok: true; grant: SubscriptionGrant } | { ok: false; failure: SubscriptionTokenFailure };

/** Checks subscription tokens (for channels a client may not subscribe to by itself). */
export interface SubscriptionTokens {
  /** Verifies `token` for `target`: the grant, or why not. */
  verify(token: string, target: SubscriptionTarget): Promise<SubscriptionTokenCheck>;
}

/** Centrifugo's answer to a refused token: an error reply, or closing the connection. */
export type TokenRefusal = { error: number } | { disconnect: centrifugo.Disconnect };

/**
 * What Centrifugo answers a refused subscription token with. `subscribe`: expired 109 (the SDK
 * gets a new token and subscribes again), invalid 103, another user's, client's or channel's
 * token: close 3500. `sub_refresh`: expired 110 (the SDK ends the subscription), anything else
 * close 3500.
 */
export function tokenRefusal(failure: SubscriptionTokenFailure, command: "subscribe" | "sub_refresh"): TokenRefusal {
  if (command === "subscribe") {
    if (failure === "expired") return { error: ErrorCode.TokenExpired };
    if (failure === "invalid") return { error: ErrorCode.PermissionDenied };
    return { disconnect: DisconnectCode.InvalidToken };
  }
  return failure === "expired" ? { error: ErrorCode.Expired } : { disconnect: DisconnectCode.InvalidToken };
}

const MAX_TOKEN_LENGTH = 8192;
const OVERRIDES = ["presence", "join_leave", "force_push_join_leave", "force_recovery", "force_positioning"] as const;

/**
 * Subscription JWTs (Centrifugo's): `sub` must be the connection's user, `channel` the channel,
 * `exp` is required; `client`, when set, must be the connection's client id; optional `info` or
 * `b64info`, `expire_at` and `override`. Signed as connection tokens are (HS256 with JWT_SECRET,
 * RS256/ES256 from JWT_JWKS_URL; JWT_ISSUER and JWT_AUDIENCE checked), or, when
 * SUBSCRIPTION_JWT_SECRET is set, with that HS256 key only.
 */
export class JwtSubscriptionTokens implements SubscriptionTokens {
  private readonly keys: JwtKeys;

  /** `jwks`: a key set to share with the connection tokens' check (made from JWT_JWKS_URL otherwise). */
  constructor(config: GatewayConfig["jwt"], jwks?: JWTVerifyGetKey) {
    const own = config.subscriptionSecret !== undefined;
    const keySet = own || !config.jwksUrl ? undefined : (jwks ?? remoteKeySet(config.jwksUrl));
    this.keys = new JwtKeys({ ...config, secret: config.subscriptionSecret ?? config.secret }, keySet, ["exp"]);
  }

  async verify(token: string, target: SubscriptionTarget): Promise<SubscriptionTokenCheck> {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return { ok: false, failure: "invalid" };
    const v = await this.keys.verify(token);
    if (typeof v === "string") return { ok: false, failure: v };
    if (!centrifugo.subscriptionTokenClaims.check(v)) return { ok: false, failure: "invalid" };
    let infoBytes: Uint8Array | undefined;
    let b64Value: unknown;
    if (v.b64info !== undefined && v.b64info !== "") {
      infoBytes = new Uint8Array(Buffer.from(v.b64info, "base64"));
      // Channel info travels as a JSON value to JSON and Protobuf clients alike: bytes that are not UTF-8 JSON cannot be carried.
      try {
        b64Value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(infoBytes));
      } catch {
        return { ok: false, failure: "invalid" };
      }
    }
    // Centrifugo's order: the channel, then the user, then the client.
    if (v.channel !== target.channel) return { ok: false, failure: "wrong_channel" };
    if ((v.sub ?? "") !== target.user) return { ok: false, failure: "wrong_user" };
    if (v.client !== undefined && v.client !== "" && v.client !== target.client) return { ok: false, failure: "wrong_client" };
    let override: SubscriptionOverride | undefined;
    if (v.override) {
      override = {};
      for (const k of OVERRIDES) if (v.override[k] !== undefined) override[k] = v.override[k]!.value ?? false;
    }
    const expiresAt = v.expire_at !== undefined ? (v.expire_at > 0 ? v.expire_at * 1000 : undefined) : v.exp * 1000;
    return { ok: true, grant: { expiresAt, info: infoBytes ? b64Value : v.info, infoBytes, override } };
  }
}
