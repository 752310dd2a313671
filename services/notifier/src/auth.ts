import { createHash, timingSafeEqual } from "node:crypto";

/** Decides whether an HTTP request may publish. */
export interface Authorizer {
  /** True when the request carries an allowed bearer token (always true when no tokens are configured). */
  allows(authorization: string | null): boolean;
  /** False when no tokens are configured (anyone may publish). */
  readonly enforced: boolean;
}

const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

/**
 * Bearer-token check. Tokens are compared as SHA-256 digests with timingSafeEqual (equal lengths
 * always), and every configured token is compared, so timing says nothing about which one matched.
 */
export function bearerAuthorizer(tokens: readonly string[] | undefined): Authorizer {
  if (tokens === undefined) return { enforced: false, allows: () => true };
  const allowed = tokens.map(digest);
  return {
    enforced: true,
    allows(authorization) {
      const m = /^Bearer[ \t]+(\S+)\s*$/i.exec(authorization ?? "");
      if (!m) return false;
      const given = digest(m[1]!);
      let ok = false;
      for (const a of allowed) ok = timingSafeEqual(a, given) || ok;
      return ok;
    },
  };
}
