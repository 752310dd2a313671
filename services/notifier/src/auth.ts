import { createHash, timingSafeEqual } from "node:crypto";

/** Decides whether an HTTP request may publish. */
export interface Authorizer {
  /** True when the request carries an allowed bearer token (always true when no tokens are configured). */
  allows(authorization: string | null): boolean;
  /** The server API's forms too: `X-API-Key: <token>`, `Authorization: apikey <token>` or `Bearer <token>`. */
  allowsApi(headers: Headers): boolean;
  /** False when no tokens are configured (anyone may publish). */
  readonly enforced: boolean;
}

const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

/**
 * Bearer-token check. Tokens are compared as SHA-256 digests with timingSafeEqual (equal lengths
 * always), and every configured token is compared, so timing says nothing about which one matched.
 */
export function bearerAuthorizer(tokens: readonly string[] | undefined): Authorizer {
  if (tokens === undefined) return { enforced: false, allows: () => true, allowsApi: () => true };
  const allowed = tokens.map(digest);
  const known = (token: string): boolean => {
    const given = digest(token);
    let ok = false;
    for (const a of allowed) ok = timingSafeEqual(a, given) || ok;
    return ok;
  };
  return {
    enforced: true,
    allows(authorization) {
      const m = /^Bearer[ \t]+(\S+)\s*$/i.exec(authorization ?? "");
      return m !== null && known(m[1]!);
    },
    allowsApi(headers) {
      const key = headers.get("x-api-key");
      if (key !== null) return known(key.trim());
      const m = /^(?:Bearer|apikey)[ \t]+(\S+)\s*$/i.exec(headers.get("authorization") ?? "");
      return m !== null && known(m[1]!);
    },
  };
}
