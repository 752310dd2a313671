import { MAX_REQUEST_BYTES } from "./notification.ts";

/**
 * The size limits of the publication path, in one place: what a producer may store, what the
 * gateways relay, and what the streams take (`max_msg_size`), each derived from the one before.
 *
 * Rooms, for a MAX_MESSAGE_BYTES of M (gateways and notifier must be given the same M):
 *   stored ⇒ relayed: a producer stores a publication only when its data, as JSON, is at most M
 *     (`dataSizeError`: the client protocol's publish and the server API) or, for a `/chat/` frame,
 *     when its stored form is at most `maxStoredPublicationBytes(M)` (`storedSizeError`). Data of
 *     at most M makes a stored form of at most M + PUBLICATION_ENVELOPE_BYTES, so every stored
 *     publication is at most `maxStoredPublicationBytes(M)`, which is what the gateways relay.
 *   relayed ⇒ within max_msg_size: the ROOMS stream's `max_msg_size` counts the NATS headers too, so
 *     it is `roomMaxMessageSize(M)`: the largest relayed payload plus STREAM_HEADER_BYTES.
 * So the stream never refuses what a producer let through, and never stores what a gateway drops.
 *
 * Notifications, likewise: a notification is stored only when its stored form (a
 * StoredNotification as JSON) is at most MAX_STORED_NOTIFICATION_BYTES (413 otherwise); the
 * NOTIFICATIONS stream's `max_msg_size` is that plus STREAM_HEADER_BYTES; the gateways relay the
 * live event (the stored form plus `seq` and `epoch`) up to MAX_LIVE_NOTIFICATION_BYTES.
 */

/** MAX_MESSAGE_BYTES: its default and its bounds (the gateways and the notifier read the same variable). */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;
export const MIN_MAX_MESSAGE_BYTES = 16;
export const MAX_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * What a room publication as stored may add to its data: `{"data":…,"info":{"user":…,"client":…}}`
 * is at most 1,100 bytes more than the data (36 bytes of JSON around them, a user id of 256
 * characters of 4 bytes of UTF-8 each, quoted, and a client id of 36, quoted). The server API's
 * `{"data":…}` adds 9.
 */
export const PUBLICATION_ENVELOPE_BYTES = 2048;

/**
 * What the NATS headers of a stored message take at most, in either stream: a room message's
 * `Nats-Msg-Id` (origin:seq), `Rt-Origin` and `Rt-Seq` (about 110 bytes with `NATS/1.0`), or the
 * server API's `Nats-Msg-Id`; a notification's `Nats-Expected-Last-Subject-Sequence`,
 * `Nats-Msg-Id` (64 hex) and `Rt-Delivery-Wait-Ms` (about 180 bytes).
 */
export const STREAM_HEADER_BYTES = 256;

/** The largest room publication as stored (its payload) that a producer stores and the gateways relay. */
export const maxStoredPublicationBytes = (maxMessageBytes: number): number => maxMessageBytes + PUBLICATION_ENVELOPE_BYTES;

/** The ROOMS stream's `max_msg_size` (headers and payload): the largest relayed publication and its headers. */
export const roomMaxMessageSize = (maxMessageBytes: number): number => maxStoredPublicationBytes(maxMessageBytes) + STREAM_HEADER_BYTES;

/**
 * The largest notification as stored (a StoredNotification as JSON: the request's fields, `data`
 * serialized again, plus `id`, `created_at` and `prev_seq`, under 100 bytes). A request whose
 * notification would be larger (its `data` grows when serialized again: `1e21` comes back as
 * `1e+21`) is refused with 413 and nothing is stored.
 */
export const MAX_STORED_NOTIFICATION_BYTES = MAX_REQUEST_BYTES + 1024;

/** The NOTIFICATIONS stream's `max_msg_size` (headers and payload). */
export const NOTIFICATIONS_MAX_MSG_SIZE = MAX_STORED_NOTIFICATION_BYTES + STREAM_HEADER_BYTES;

/** Largest live event (a stored notification plus its `seq` and `epoch`) the gateways relay. */
export const MAX_LIVE_NOTIFICATION_BYTES = MAX_STORED_NOTIFICATION_BYTES + 1024;

/** The UTF-8 length of `s` when it is over `limit` bytes, else undefined (a short string is not measured). */
export function bytesOver(s: string, limit: number): number | undefined {
  // One UTF-16 unit is at most 3 bytes of UTF-8 (a surrogate pair, 2 units, is 4).
  if (s.length * 3 <= limit) return undefined;
  const bytes = Buffer.byteLength(s, "utf8");
  return bytes > limit ? bytes : undefined;
}

/**
 * Why a publication whose data serializes to `dataJson` may not be published (the message names
 * the limit), or undefined when it fits: the data, as JSON, is at most `maxMessageBytes`. The rule
 * of the client protocol's publish and of the server API (error 107).
 */
export function dataSizeError(dataJson: string, maxMessageBytes: number): string | undefined {
  const bytes = bytesOver(dataJson, maxMessageBytes);
  return bytes === undefined ? undefined : `data is ${bytes} bytes; at most ${maxMessageBytes} (MAX_MESSAGE_BYTES)`;
}

/**
 * Why a publication whose stored form is `payload` may not be stored, or undefined when the gateways
 * relay it: at most `maxStoredPublicationBytes`. The rule of `/chat/` frames, whose text is within
 * MAX_MESSAGE_BYTES as a frame but may grow when escaped as JSON (close 1009).
 */
export function storedSizeError(payload: string, maxMessageBytes: number): string | undefined {
  const limit = maxStoredPublicationBytes(maxMessageBytes);
  const bytes = bytesOver(payload, limit);
  return bytes === undefined ? undefined : `the publication is ${bytes} bytes as stored; at most ${limit} (MAX_MESSAGE_BYTES plus ${PUBLICATION_ENVELOPE_BYTES})`;
}
