/**
 * The size limit of the publication path, in one place. `MAX_MESSAGE_BYTES` bounds a client's frame
 * on the gateways, and every publication that may be stored in a room: whatever a producer stores
 * (a gateway for its clients, the notifier for the server API) the gateways relay, because both
 * check against the functions below. Gateways and notifier must therefore be given the same
 * `MAX_MESSAGE_BYTES`.
 */

/** MAX_MESSAGE_BYTES: its default and its bounds (the gateways and the notifier read the same variable). */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;
export const MIN_MAX_MESSAGE_BYTES = 16;
export const MAX_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * What a room publication as stored may add to its data: `{"data":…,"info":{"user":…,"client":…}}`
 * is at most 1,128 bytes more than the data (a user id of 256 characters of 4 bytes of UTF-8 each, a
 * client id of 64).
 */
export const PUBLICATION_ENVELOPE_BYTES = 2048;

/**
 * The largest room publication, as stored in the ROOMS stream, that the gateways relay: a larger one
 * is refused (counted) on the live path. No producer stores one: publications whose data (as JSON) is
 * over `maxMessageBytes` are refused before they are stored (`dataSizeError`), and so are `/chat/`
 * frames whose text, escaped as JSON, would not fit.
 */
export const maxStoredPublicationBytes = (maxMessageBytes: number): number => maxMessageBytes + PUBLICATION_ENVELOPE_BYTES;

/** The UTF-8 length of `s` when it is over `limit` bytes, else undefined (a short string is not measured). */
export function bytesOver(s: string, limit: number): number | undefined {
  // One UTF-16 unit is at most 3 bytes of UTF-8 (a surrogate pair, 2 units, is 4).
  if (s.length * 3 <= limit) return undefined;
  const bytes = Buffer.byteLength(s, "utf8");
  return bytes > limit ? bytes : undefined;
}

/**
 * Why a publication whose data serializes to `dataJson` may not be published (the error message
 * names the limit), or undefined when it fits: the data, as JSON, is at most `maxMessageBytes`.
 */
export function dataSizeError(dataJson: string, maxMessageBytes: number): string | undefined {
  const bytes = bytesOver(dataJson, maxMessageBytes);
  return bytes === undefined ? undefined : `data is ${bytes} bytes; at most ${maxMessageBytes} (MAX_MESSAGE_BYTES)`;
}
