import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from "jose";

/** Where tokens' keys come from and what every token must hold (GatewayConfig["jwt"] without the subscription secret). */
export interface JwtKeySource {
  /** HS256 key bytes. */
  secret?: Uint8Array;
  /** RS256/ES256 keys. */
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
}

/** A token's signature and standard claims checked: its payload, or why not. */
export type JwtVerdict = JWTPayload | "expired" | "invalid";

/** The key set of JWT_JWKS_URL, fetched lazily, refetched at most once a second when a token names an unknown key, kept 10 min. */
export function remoteKeySet(url: string): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(url), { cooldownDuration: 1_000, cacheMaxAge: 600_000 });
}

/**
 * The one check of a JWT's signature and standard claims, for connection and subscription tokens
 * alike: HS256 with the secret (imported once as an HMAC key: jose would import raw bytes again on
 * every verify, 44 against 28 us a token), then RS256/ES256 from the key set; issuer and audience
 * when configured; 5 s of clock tolerance for `iat`/`nbf` skew but none for `exp`. A token whose
 * `exp` has passed, or whose `nbf` is not reached yet, is "expired", as Centrifugo counts it: the
 * client gets a new one.
 */
export class JwtKeys {
  private readonly hmacKey: Promise<CryptoKey> | undefined;
  private readonly hsOptions: JWTVerifyOptions;
  private readonly jwksOptions: JWTVerifyOptions;

  /** `jwks`: the key set (none: HS256 only); `requiredClaims`: what a token must carry besides a signature. */
  constructor(source: JwtKeySource, readonly jwks: JWTVerifyGetKey | undefined, requiredClaims: string[]) {
    this.hmacKey = source.secret ? crypto.subtle.importKey("raw", new Uint8Array(source.secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]) : undefined;
    const options: JWTVerifyOptions = { requiredClaims, clockTolerance: 5 };
    if (source.issuer) options.issuer = source.issuer;
    if (source.audience) options.audience = source.audience;
    this.hsOptions = { ...options, algorithms: ["HS256"] };
    this.jwksOptions = { ...options, algorithms: ["RS256", "ES256"] };
  }

  /** The verified payload (with `exp` in the future when it has one), "expired", or "invalid". */
  async verify(token: string): Promise<JwtVerdict> {
    let expired = false;
    const attempt = async (run: () => Promise<{ payload: JWTPayload }>): Promise<JWTPayload | undefined> => {
      try {
        return (await run()).payload;
      } catch (err) {
        if (err instanceof errors.JWTExpired || (err instanceof errors.JWTClaimValidationFailed && err.claim === "nbf")) expired = true;
        return undefined;
      }
    };
    const hmacKey = this.hmacKey;
    const jwks = this.jwks;
    const payload =
      (hmacKey ? await attempt(async () => jwtVerify(token, await hmacKey, this.hsOptions)) : undefined) ??
      (jwks ? await attempt(() => jwtVerify(token, jwks, this.jwksOptions)) : undefined);
    if (!payload) return expired ? "expired" : "invalid";
    // The clock tolerance is for iat/nbf skew, not for expiry.
    if (typeof payload.exp === "number" && payload.exp * 1000 <= Date.now()) return "expired";
    return payload;
  }
}
