import type { ServerWebSocket } from "bun";
import type { centrifugo } from "@rt/protocol";
import type { InboxStart, InboxSub } from "../channels/inbox.ts";
import type { Client } from "../protocols/centrifugo/client.ts";
import type { Creator } from "./create-limit.ts";
import type { TokenBucket } from "./rate-limit.ts";

/** Which protocol a socket speaks: one adapter each (protocols/). */
export type ProtocolName = "echo" | "room" | "monitor" | "notifications" | "centrifugo";

/** State every socket carries, set at upgrade (hono style: per-connection state lives in ws.data). */
interface Common {
  protocol: ProtocolName;
  /** Frames this socket may still send (undefined: no limit). */
  bucket: TokenBucket | undefined;
  /** When the socket's token expires (ms since the epoch; undefined: never). */
  expiresAt: number | undefined;
}

/** `/ws-chat` */
export interface EchoData extends Common {
  protocol: "echo";
}

/** `/chat/{room}`: a member, user `""`, known to others by a client id. */
export interface RoomData extends Common {
  protocol: "room";
  room: string;
  info: centrifugo.ClientInfo;
  /** Whose allowance creating the room spends: the client's address (the peer's: a proxy's, behind one). */
  creator: Creator;
}

/** `/system-monitor` */
export interface MonitorData extends Common {
  protocol: "monitor";
  /** True while unsubscribed because it fell behind (conflation). */
  stalled: boolean;
}

/** `/notifications` */
export interface NotificationsData extends Common {
  protocol: "notifications";
  userId: string;
  start: InboxStart;
  /** Its inbox subscription, from open to close. */
  inbox: InboxSub | undefined;
}

/** `/connection/websocket`: the client protocol; its session holds the rest. */
export interface ClientData extends Common {
  protocol: "centrifugo";
  client: Client;
}

export type SocketData = EchoData | RoomData | MonitorData | NotificationsData | ClientData;
export type GatewaySocket = ServerWebSocket<SocketData>;
/** A socket of one protocol. */
export type SocketOf<D extends SocketData> = ServerWebSocket<D>;
