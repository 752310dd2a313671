import { createHmac, randomBytes } from "node:crypto";

/** A random HS256 secret for one run: 48 random bytes as base64url (64 characters, over the gateway's 32-byte minimum). */
export function randomSecret(): string {
  return randomBytes(48).toString("base64url");
}

/**
 * An HS256 JWT for `sub`, valid `ttlSeconds` (with extra `claims`, such as `channels`), keyed with the UTF-8 bytes of `secret` (as the
 * gateway reads JWT_SECRET). Signed here with node:crypto rather than jose's SignJWT: jose is a
 * dependency of the services, not of the workspace root, so it does not resolve from scripts/.
 * The launcher and token tests check the token against the real gateway.
 */
export function signHs256(secret: string, sub: string, ttlSeconds: number, now = Date.now(), claims: Record<string, unknown> = {}): string {
  const iat = Math.floor(now / 1000);
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload = b64url(JSON.stringify({ ...claims, sub, iat, exp: iat + ttlSeconds }));
  const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}

function b64url(s: string): string {
  return Buffer.from(s, "utf8").toString("base64url");
}
