import type { JWTPayload, JWTVerifyGetKey } from "jose";
import { isUserId } from "@rt/protocol";
import type { GatewayConfig } from "./config.ts";
import { JwtKeys, remoteKeySet } from "./jwt-keys.ts";

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
  private readonly keys: JwtKeys;
  constructor(config: GatewayConfig["jwt"], private readonly allowInsecureUserId: boolean) {
    this.keys = new JwtKeys(config, config.jwksUrl ? remoteKeySet(config.jwksUrl) : undefined, ["exp", "sub"]);
  }

  /** The key set, for the subscription tokens' check to share (one fetcher per process). */
  get jwks(): JWTVerifyGetKey | undefined {
    return this.keys.jwks;
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
    const payload = await this.keys.verify(token);
    if (payload === "expired") return { ok: false, expired: true };
    if (payload === "invalid" || typeof payload.sub !== "string" || !isUserId(payload.sub) || typeof payload.exp !== "number") return { ok: false, expired: false };
    const channels = claimedChannels(payload);
    if (channels === "invalid") return { ok: false, expired: false };
    return { ok: true, principal: { userId: payload.sub, expiresAt: payload.exp * 1000, ...(channels ? { channels } : {}) } };
  }
}

function bearer(req: Request): string | undefined {
  const h = req.headers.get("authorization");
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1] : "";
}
