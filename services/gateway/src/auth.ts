import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey, type JWTVerifyOptions } from "jose";
import { isUserId } from "@rt/protocol";
import type { GatewayConfig } from "./config.ts";

/** Who a `/notifications` socket belongs to, and until when its token is good. */
export interface Principal {
  userId: string;
  /** ms since the epoch; undefined only in insecure mode. */
  expiresAt: number | undefined;
}

/** Decides who a `/notifications` request is; undefined means 401. */
export interface Authenticator {
  /** Authenticates the upgrade request (token in `?token=` or `Authorization: Bearer`). */
  authenticate(req: Request, url: URL): Promise<Principal | undefined>;
}

const MAX_TOKEN_LENGTH = 8192;

/** JWT authentication with jose: HS256 with JWT_SECRET and/or RS256/ES256 from JWT_JWKS_URL; `exp` and `sub` required. */
export class JwtAuthenticator implements Authenticator {
  private readonly jwks: JWTVerifyGetKey | undefined;
  private readonly options: JWTVerifyOptions;
  constructor(private readonly config: GatewayConfig["jwt"], private readonly allowInsecureUserId: boolean) {
    this.jwks = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 1_000, cacheMaxAge: 600_000 }) : undefined;
    this.options = { requiredClaims: ["exp", "sub"], clockTolerance: 5 };
    if (config.issuer) this.options.issuer = config.issuer;
    if (config.audience) this.options.audience = config.audience;
  }

  async authenticate(req: Request, url: URL): Promise<Principal | undefined> {
    const token = bearer(req) ?? url.searchParams.get("token") ?? undefined;
    if (token === undefined) {
      if (!this.allowInsecureUserId) return undefined;
      const userId = url.searchParams.get("user_id");
      return userId !== null && isUserId(userId) ? { userId, expiresAt: undefined } : undefined;
    }
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return undefined;
    const payload = await this.verify(token);
    if (!payload || typeof payload.sub !== "string" || !isUserId(payload.sub) || typeof payload.exp !== "number") return undefined;
    if (payload.exp * 1000 <= Date.now()) return undefined; // the clock tolerance is for iat/nbf skew, not for expiry
    return { userId: payload.sub, expiresAt: payload.exp * 1000 };
  }

  private async verify(token: string): Promise<{ sub?: string; exp?: number } | undefined> {
    if (this.config.secret) {
      try {
        return (await jwtVerify(token, this.config.secret, { ...this.options, algorithms: ["HS256"] })).payload;
      } catch {
        // fall through to JWKS when configured
      }
    }
    if (this.jwks) {
      try {
        return (await jwtVerify(token, this.jwks, { ...this.options, algorithms: ["RS256", "ES256"] })).payload;
      } catch {
        return undefined;
      }
    }
    return undefined;
  }
}

function bearer(req: Request): string | undefined {
  const h = req.headers.get("authorization");
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1] : "";
}
