import { SignJWT } from "jose";

/** A fixed 32-byte+ HS256 secret for tests. */
export const TEST_JWT_SECRET = "test-secret-0123456789-abcdefghijklmnop";

/** Signs an HS256 token for `sub`. */
export function signToken(sub: string, opts: { secret?: string; expiresIn?: string | number; claims?: Record<string, unknown> } = {}): Promise<string> {
  return new SignJWT({ ...opts.claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(opts.expiresIn ?? "1h")
    .sign(new TextEncoder().encode(opts.secret ?? TEST_JWT_SECRET));
}
