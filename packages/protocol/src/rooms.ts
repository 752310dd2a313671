import Type, { type Static } from "typebox";
import { ClientInfo } from "./centrifugo/commands.ts";
import { depthWithin } from "./json-depth.ts";
import { validator } from "./validator.ts";

/**
 * One publication on a room, as stored in the ROOMS stream and relayed to every gateway: the
 * publisher's JSON `data` and who published it. A `/chat/{room}` text frame `hello` is
 * `{"data":{"text":"hello"}}`; a publication whose data has a string `text` reaches
 * `/chat/{room}` sockets as `Room {room}: {text}`.
 */
export const RoomPublication = Type.Object({
  data: Type.Unknown(),
  info: Type.Optional(ClientInfo),
  /** The server API's `tags`: the publication's `tags` in every push and history entry. */
  tags: Type.Optional(Type.Record(Type.String(), Type.String())),
  /** Sent as a Fossil delta to the channel's delta subscribers (the server API's `delta`, or the namespace's `delta_publish`): decided once, where it is published, so every gateway does the same. */
  delta: Type.Optional(Type.Boolean()),
});
export type RoomPublication = Static<typeof RoomPublication>;
export const roomPublication = validator(RoomPublication);

/**
 * A publication's stored form (a RoomPublication as JSON) from its data's JSON, serialized once:
 * `{"data":…}` (the server API's; `{"data":…,"tags":{…}}` with tags) or
 * `{"data":…,"info":{"user":…,"client":…}}` (a client's, with its `conn_info` and `chan_info` when it has them);
 * `,"delta":true` last when it goes as a Fossil delta.
 */
export function roomPayload(dataJson: string, info?: ClientInfo, tags?: Record<string, string>, delta = false): string {
  const tail = `${tags === undefined ? "" : `,"tags":${JSON.stringify(tags)}`}${delta ? `,"delta":true` : ""}}`;
  if (info === undefined) return `{"data":${dataJson}${tail}`;
  // `conn_info` and `chan_info` (a proxy's or a subscription token's `info`) ride along when the publisher has them: not bounded by PUBLICATION_ENVELOPE_BYTES, so such a publication is measured as stored too (storedSizeError).
  const who = info.chan_info === undefined && info.conn_info === undefined
    ? { user: info.user, client: info.client }
    : { user: info.user, client: info.client, ...(info.conn_info === undefined ? {} : { conn_info: info.conn_info }), ...(info.chan_info === undefined ? {} : { chan_info: info.chan_info }) };
  return `{"data":${dataJson},"info":${JSON.stringify(who)}${tail}`;
}

/**
 * The header of a publication published straight onto a live subject (`chat.live.<room>`,
 * `chan.live.<ns>.<channel>`) by the server API's `skip_history`: delivered, not stored, so it has
 * no seq; its value is `1`. Everything else on a live subject is the stream's republished copy.
 */
export const LIVE_ONLY_HEADER = "Rt-Live-Only";

/** The text a `/chat/{room}` socket sees for a publication, or undefined when it has none. */
export function legacyText(data: unknown): string | undefined {
  return typeof data === "object" && data !== null && !Array.isArray(data) && typeof (data as { text?: unknown }).text === "string" ? (data as { text: string }).text : undefined;
}

/**
 * Reads a room payload from NATS (already UTF-8 text): a RoomPublication as JSON, or, for a service
 * that publishes plain text on `chat.room.<room>`, that text as `{"data":{"text": text}}`.
 * Undefined for JSON that is not a publication (or nests `data` too deep).
 */
export function readRoomPayload(text: string): RoomPublication | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { data: { text } };
  }
  return roomPublication.check(value) && depthWithin(value.data) ? value : undefined;
}

/**
 * True when `text`, read by readRoomPayload as `pub`, is the JSON object of `pub`'s fields and no
 * others (`data`, and `info` when present), ending in its `}`: a push may then carry the text as it
 * is (with the offset spliced in) instead of serializing `pub` again. False for the plain-text form
 * (`{"data":{"text": text}}` made from text that is not JSON) and for objects with more fields.
 */
export function isStoredForm(text: string, pub: RoomPublication): boolean {
  if (text.charCodeAt(text.length - 1) !== 125 /* } */) return false;
  const data = pub.data as { text?: unknown } | null;
  if (typeof data === "object" && data !== null && data.text === text) return false; // the plain-text form
  let keys = 0;
  for (const k in pub) {
    if (!Object.hasOwn(pub, k)) continue;
    if (k !== "data" && k !== "info") return false;
    keys++;
  }
  return keys === (pub.info === undefined ? 1 : 2) && Object.hasOwn(pub, "data");
}

/**
 * True when `payload`, written by roomPayload without tags in this process, is a stored form
 * (isStoredForm) without reading it: it is unless it carries the delta flag. A gateway's own
 * publications (never tagged) are judged by this, not parsed.
 */
export function isOwnStoredForm(payload: string): boolean {
  return !payload.endsWith(',"delta":true}');
}

