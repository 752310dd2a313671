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
});
export type RoomPublication = Static<typeof RoomPublication>;
export const roomPublication = validator(RoomPublication);

/**
 * What a room message may carry beyond the client's data (MAX_MESSAGE_BYTES): the publication's
 * envelope (`{"data":…,"info":{"user","client"}}`, a user id of up to 256 characters) and its NATS
 * headers (`Nats-Msg-Id`, `Rt-Origin`, `Rt-Seq`). The JSON a gateway stores may also be longer than
 * the frame it came in (a `/chat/` text is escaped, `1e21` becomes `1e+21`): that is measured, not assumed.
 */
export const ROOM_ENVELOPE_BYTES = 4096;
/** What the NATS headers of a room message take at most (the rest of the envelope is for the payload). */
export const ROOM_HEADER_BYTES = 256;
/**
 * The largest room message (headers and payload) the ROOMS stream stores: its `max_msg_size`, for
 * a gateway configured with `maxMessageBytes` (MAX_MESSAGE_BYTES). Gateways relay every payload up
 * to this size, so whatever the stream took is delivered.
 */
export const roomMaxMessageSize = (maxMessageBytes: number): number => maxMessageBytes + ROOM_ENVELOPE_BYTES;
/** The largest payload a gateway hands to the ROOMS stream (room messages larger than this are refused before they are stored). */
export const roomMaxPayload = (maxMessageBytes: number): number => roomMaxMessageSize(maxMessageBytes) - ROOM_HEADER_BYTES;

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
