import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from "jose";
import { isUserId } from "@rt/protocol";
import type { GatewayConfig } from "./config.ts";

/** Who a socket belongs to, and until when its token is good. */
export interface Principal {
  userId: string;
  /** ms since the epoch; undefined only in insecure mode. */
  expiresAt: number | undefined;
  /** The token's `channels` claim: what the client protocol subscribes the connection to at connect (server-side). */
  channels?: string[];
}

/** A token's verdict: whose it is, or why not (expired: the client should get a new one). */
export type TokenCheck = { ok: true; principal: Principal } | { ok: false; expired: boolean };

/** Decides who a request or a token is. */
export interface Authenticator {
  /** Authenticates a `/notifications` upgrade request (token in `?token=` or `Authorization: Bearer`); undefined means 401. */
  authenticate(req: Request, url: URL): Promise<Principal | undefined>;
  /** Checks one token (the client protocol's `connect` and `refresh`). */
  check(token: string): Promise<TokenCheck>;
}

const MAX_TOKEN_LENGTH = 8192;
/** A `channels` claim is refused (the token is invalid) past this many entries; the connection's own limit applies first at connect (3505). */
const MAX_CLAIMED_CHANNELS = 1024;

/** The `channels` claim: absent, or an array of strings; anything else makes the token invalid. */
function claimedChannels(payload: JWTPayload): string[] | undefined | "invalid" {
  const c = payload.channels;
  if (c === undefined) return undefined;
  if (!Array.isArray(c) || c.length > MAX_CLAIMED_CHANNELS || !c.every((x) => typeof x === "string" && x.length > 0 && x.length <= 512)) return "invalid";
  return c as string[];
}

/** JWT authentication with jose: HS256 with JWT_SECRET and/or RS256/ES256 from JWT_JWKS_URL; `exp` and `sub` required. */
export class JwtAuthenticator implements Authenticator {
  private readonly jwks: JWTVerifyGetKey | undefined;
  /** JWT_SECRET imported once as an HMAC key (jose would import raw bytes again on every verify: 44 against 28 us a token). */
  private readonly hmacKey: Promise<CryptoKey> | undefined;
  private readonly hsOptions: JWTVerifyOptions;
  private readonly jwksOptions: JWTVerifyOptions;
  constructor(private readonly config: GatewayConfig["jwt"], private readonly allowInsecureUserId: boolean) {
    this.jwks = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 1_000, cacheMaxAge: 600_000 }) : undefined;
    this.hmacKey = config.secret ? crypto.subtle.importKey("raw", new Uint8Array(config.secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]) : undefined;
    const options: JWTVerifyOptions = { requiredClaims: ["exp", "sub"], clockTolerance: 5 };
    if (config.issuer) options.issuer = config.issuer;
    if (config.audience) options.audience = config.audience;
    this.hsOptions = { ...options, algorithms: ["HS256"] };
    this.jwksOptions = { ...options, algorithms: ["RS256", "ES256"] };
  }

  async authenticate(req: Request, url: URL): Promise<Principal | undefined> {
    const token = bearer(req) ?? url.searchParams.get("token") ?? undefined;
    if (token === undefined) {
      if (!this.allowInsecureUserId) return undefined;
      const userId = url.searchParams.get("user_id");
      return userId !== null && isUserId(userId) ? { userId, expiresAt: undefined } : undefined;
    }
    const r = await this.check(token);
    return r.ok ? r.principal : undefined;
  }

  async check(token: string): Promise<TokenCheck> {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return { ok: false, expired: false };
    const v = await this.verify(token);
    if (v === "expired") return { ok: false, expired: true };
    const payload = v;
    if (!payload || typeof payload.sub !== "string" || !isUserId(payload.sub) || typeof payload.exp !== "number") return { ok: false, expired: false };
    if (payload.exp * 1000 <= Date.now()) return { ok: false, expired: true }; // the clock tolerance is for iat/nbf skew, not for expiry
    const channels = claimedChannels(payload);
    if (channels === "invalid") return { ok: false, expired: false };
    return { ok: true, principal: { userId: payload.sub, expiresAt: payload.exp * 1000, ...(channels ? { channels } : {}) } };
  }

  /** The verified payload; "expired" when the signature is good but `exp` has passed; undefined otherwise. */
  private async verify(token: string): Promise<JWTPayload | "expired" | undefined> {
    let expired = false;
    const attempt = async (run: () => Promise<{ payload: JWTPayload }>): Promise<JWTPayload | undefined> => {
      try {
        return (await run()).payload;
      } catch (err) {
        if (err instanceof errors.JWTExpired) expired = true;
        return undefined;
      }
    };
    const hmacKey = this.hmacKey;
    const jwks = this.jwks;
    const payload =
      (hmacKey ? await attempt(async () => jwtVerify(token, await hmacKey, this.hsOptions)) : undefined) ??
      (jwks ? await attempt(() => jwtVerify(token, jwks, this.jwksOptions)) : undefined);
    return payload ?? (expired ? "expired" : undefined);
  }
}

function bearer(req: Request): string | undefined {
  const h = req.headers.get("authorization");
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1] : "";
}
