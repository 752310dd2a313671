/**
 * Turns arbitrary text into one NATS subject token of [A-Za-z0-9_-] (unpadded base64url of UTF-8),
 * so no user-supplied character (".", "*", ">", spaces) ever reaches a subject unencoded.
 */
export function encodeToken(text: string): string {
  if (text.length === 0) throw new RangeError("cannot encode an empty token");
  return Buffer.from(text, "utf8").toString("base64url");
}

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Reverses encodeToken; returns undefined for anything encodeToken could not have produced. */
export function decodeToken(token: string): string | undefined {
  if (!TOKEN.test(token)) return undefined;
  const text = Buffer.from(token, "base64url").toString("utf8");
  return encodeToken(text) === token ? text : undefined;
}

/** True when `token` is safe to use verbatim as one subject token. */
export const isSafeToken = (token: string): boolean => TOKEN.test(token);
