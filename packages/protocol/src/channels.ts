import { isRoomId, isUserId } from "./ids.ts";

/** The client protocol's channel of every host's metrics samples. */
export const MONITOR_CHANNEL = "system:monitor";

/** What a channel name means (docs/websocket.md, the channel table). */
export type ChannelRef =
  | { kind: "room"; channel: string; room: string }
  | { kind: "inbox"; channel: string; userId: string }
  | { kind: "monitor"; channel: string }
  /** A namespace the gateway does not serve: error 102. */
  | { kind: "unknown"; channel: string }
  /** A name that cannot be valid (too long, or a room id `/chat/` would refuse): error 107. */
  | { kind: "invalid" };

/** Longest channel name: `chat:` + a 64-character room, or `#` + a 256-character user id, and then some. */
const MAX_CHANNEL_LENGTH = 300;

/** Parses a channel name: the namespace is what comes before the first `:`; `#<user>` is a user's inbox. */
export function parseChannel(name: string): ChannelRef {
  if (name.length === 0 || name.length > MAX_CHANNEL_LENGTH) return { kind: "invalid" };
  if (name.startsWith("#")) {
    const userId = name.slice(1);
    return isUserId(userId) ? { kind: "inbox", channel: name, userId } : { kind: "invalid" };
  }
  if (name === MONITOR_CHANNEL) return { kind: "monitor", channel: name };
  const colon = name.indexOf(":");
  if (colon > 0 && name.slice(0, colon) === "chat") {
    const room = name.slice(colon + 1);
    return isRoomId(room) ? { kind: "room", channel: name, room } : { kind: "invalid" };
  }
  return { kind: "unknown", channel: name };
}
