import { isRoomId } from "@rt/protocol";
import type { StreamEndpoint } from "./transports/endpoints.ts";

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
  | { kind: "uniWebsocket" }
  | { kind: "stream"; endpoint: StreamEndpoint }
  | { kind: "emulation" }
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
    case "/connection/uni_websocket":
      return { kind: "uniWebsocket" };
    case "/connection/http_stream":
      return { kind: "stream", endpoint: "http_stream" };
    case "/connection/sse":
      return { kind: "stream", endpoint: "sse" };
    case "/connection/uni_http_stream":
      return { kind: "stream", endpoint: "uni_http_stream" };
    case "/connection/uni_sse":
      return { kind: "stream", endpoint: "uni_sse" };
    case "/emulation":
      return { kind: "emulation" };
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
