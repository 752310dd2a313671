import { CloseCode } from "@rt/protocol";
import type { Node } from "../node/node.ts";
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
 * gateways relay closes with 1009 `message too big once stored`, like a frame over
 * MAX_MESSAGE_BYTES. Neither is published. `reject` counts a refused frame. The endpoint's own rules
 * (its room, every member publishes) come from the channel policy (the Node), whatever a channels
 * file says about `chat`.
 */
export function legacyRoomAdapter(node: Node, limits: SocketLimits, reject: (reason: "binary_frame" | "room_message_too_large") => void): ProtocolAdapter<RoomData> {
  return {
    open(ws) {
      node.openRoomSocket(ws);
    },
    message(ws, message) {
      if (typeof message !== "string") {
        reject("binary_frame");
        ws.close(CloseCode.UnsupportedData, "text frames only");
        return;
      }
      // No identity but the client address: its allowance is spent when this message creates the room.
      const refused = node.roomSocketPublish(ws, message);
      if (refused === "too_large") {
        reject("room_message_too_large");
        ws.close(TOO_LARGE_STORED.code, TOO_LARGE_STORED.reason);
      } else if (refused === "create_rate") ws.close(CREATE_RATE.code, CREATE_RATE.reason);
    },
    overRate: closeForRate,
    drain() {},
    close(ws) {
      node.closeRoomSocket(ws);
    },
    sweep(ws, now) {
      closeIfOver(ws, now, limits, SLOW, EXPIRED);
    },
    shutdown: goingAway,
    internalError,
  };
}
