import { isRoomId } from "@rt/protocol";

/** Which protocol a socket speaks: one adapter each (protocols/). */
export type ProtocolName = "echo" | "room" | "monitor" | "notifications" | "centrifugo";

/** Which endpoint a request path names. */
export type Route =
  | { kind: "echo" }
  | { kind: "room"; room: string }
  | { kind: "badRoom" }
  | { kind: "monitor" }
  | { kind: "notifications" }
  | { kind: "centrifugo" }
  | { kind: "metrics" }
  | { kind: "notFound" };

/** Maps a path to its endpoint; `/chat/a/b` is not found, `/chat/` and `/chat/a.b` are a bad room. */
export function route(path: string): Route {
  switch (path) {
    case "/ws-chat":
      return { kind: "echo" };
    case "/system-monitor":
      return { kind: "monitor" };
    case "/notifications":
      return { kind: "notifications" };
    case "/connection/websocket":
      return { kind: "centrifugo" };
    case "/metrics":
      return { kind: "metrics" };
  }
  if (!path.startsWith("/chat/")) return { kind: "notFound" };
  const raw = path.slice("/chat/".length);
  if (raw.includes("/")) return { kind: "notFound" };
  let room: string;
  try {
    room = decodeURIComponent(raw);
  } catch {
    return { kind: "badRoom" };
  }
  return isRoomId(room) ? { kind: "room", room } : { kind: "badRoom" };
}
