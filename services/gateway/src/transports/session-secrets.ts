import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** Random bytes in a session secret: 256 bits, far beyond guessing. */
export const SESSION_SECRET_BYTES = 32;

/** A new session secret: 32 random bytes, base64url (43 characters). */
export const newSessionSecret = (): string => randomBytes(SESSION_SECRET_BYTES).toString("base64url");

const digest = (secret: string): Buffer => createHash("sha256").update(secret, "utf8").digest();

/**
 * The sessions of this gateway by their secret (the connect result's `session`, which the emulation
 * transports' clients send back with every command). The secret is its own random value, never the
 * client id that presence and the server API show, so knowing a client id gets nobody anywhere.
 * Entries are keyed by the secret's SHA-256, so a lookup's timing tells nothing about the secret,
 * and the digest found is compared again in constant time.
 */
export class SessionSecrets<S> {
  private readonly byDigest = new Map<string, { digest: Buffer; session: S }>();

  /** Registers `session` under a new secret and returns the secret (for the connect result; register before sending it). */
  issue(session: S): string {
    const secret = newSessionSecret();
    const d = digest(secret);
    this.byDigest.set(d.toString("base64"), { digest: d, session });
    return secret;
  }

  /** The session of `secret`, or undefined. */
  find(secret: string): S | undefined {
    const d = digest(secret);
    const e = this.byDigest.get(d.toString("base64"));
    return e && timingSafeEqual(e.digest, d) ? e.session : undefined;
  }

  /** Forgets `secret` (its session closed); false when it was not known. */
  revoke(secret: string): boolean {
    return this.byDigest.delete(digest(secret).toString("base64"));
  }

  /** Sessions registered. */
  get size(): number {
    return this.byDigest.size;
  }
}
