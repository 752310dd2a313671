import { CloseCode } from "@rt/protocol";
import { legacyRoomTopic, type RoomHub } from "../channels/room.ts";
import type { Presence } from "../presence/presence.ts";
import type { RoomData } from "../sessions/session.ts";
import type { ProtocolAdapter } from "./adapter.ts";
import { EXPIRED, SLOW, closeForRate, goingAway, internalError } from "./legacy-codes.ts";
import { closeIfOver, type SocketLimits } from "./limits.ts";

/**
 * `/chat/{room_id}`: each text frame is a publication `{"text": frame}` on `chat:{room_id}`;
 * members get `Room {room_id}: {text}` for every publication with a text, their own included.
 * Each socket is a member of the room's presence (user `""`). A frame that could not be relayed
 * (its text escaped as JSON would make the publication larger than the gateways relay) is refused
 * like a frame over MAX_MESSAGE_BYTES: close 1009, nothing published. `reject` counts a refused frame.
 */
export function legacyRoomAdapter(rooms: RoomHub, presence: Presence, limits: SocketLimits, reject: (reason: "binary_frame" | "oversize_publication") => void): ProtocolAdapter<RoomData> {
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
      if (!rooms.publish(ws.data.room, data, JSON.stringify(data), ws.data.info)) {
        reject("oversize_publication");
        ws.close(CloseCode.MessageTooBig, "message too big once escaped");
      }
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
