import { CloseCode, roomPayload, storedSizeError } from "@rt/protocol";
import { legacyRoomTopic, type RoomHub } from "../channels/room.ts";
import type { Presence } from "../presence/presence.ts";
import type { RoomData } from "./socket-data.ts";
import type { ProtocolAdapter } from "./adapter.ts";
import { CREATE_RATE, EXPIRED, SLOW, TOO_LARGE_STORED, closeForRate, goingAway, internalError } from "./legacy-codes.ts";
import { closeIfOver, type SocketLimits } from "./limits.ts";

/**
 * `/chat/{room_id}`: each text frame is a publication `{"text": frame}` on `chat:{room_id}`;
 * members get `Room {room_id}: {text}` for every publication with a text, their own included.
 * Each socket is a member of the room's presence (user `""`). A message that would create the room
 * past its client address's allowance closes with 1008 `channel create rate`. A frame within
 * MAX_MESSAGE_BYTES whose stored form (the text escaped as JSON, with its envelope) is over what the
 * gateways relay (`storedSizeError`) closes with 1009 `message too big once stored`, like a frame over
 * MAX_MESSAGE_BYTES. Neither is published. `reject` counts a refused frame.
 */
export function legacyRoomAdapter(
  rooms: RoomHub,
  presence: Presence,
  limits: SocketLimits,
  /** MAX_MESSAGE_BYTES (the frame limit, and what the stored form is measured against). */
  maxMessageBytes: number,
  reject: (reason: "binary_frame" | "room_message_too_large") => void,
): ProtocolAdapter<RoomData> {
  return {
    open(ws) {
      ws.subscribe(legacyRoomTopic(ws.data.room));
      rooms.join(ws.data.room, "legacy");
      presence.add(ws.data.room, ws.data.info.client, ws.data.info.user);
    },
    message(ws, message) {
      if (typeof message !== "string") {
        reject("binary_frame");
        ws.close(CloseCode.UnsupportedData, "text frames only");
        return;
      }
      const data = { text: message };
      // Serialized once: measured here, stored as it is.
      const payload = roomPayload(JSON.stringify(data), ws.data.info);
      if (storedSizeError(payload, maxMessageBytes) !== undefined) {
        reject("room_message_too_large");
        ws.close(TOO_LARGE_STORED.code, TOO_LARGE_STORED.reason);
        return;
      }
      // No identity but the client address: its allowance is spent when this message creates the room.
      if (rooms.publish(ws.data.room, data, payload, ws.data.creator) === "create_rate") ws.close(CREATE_RATE.code, CREATE_RATE.reason);
    },
    overRate: closeForRate,
    drain() {},
    close(ws) {
      presence.remove(ws.data.room, ws.data.info.client);
      rooms.leave(ws.data.room, "legacy");
    },
    sweep(ws, now) {
      closeIfOver(ws, now, limits, SLOW, EXPIRED);
    },
    shutdown: goingAway,
    internalError,
  };
}
