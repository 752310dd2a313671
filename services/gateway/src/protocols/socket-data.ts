import type { ServerWebSocket } from "bun";
import type { ServedChannel, centrifugo } from "@rt/protocol";
import type { InboxStart, InboxSub } from "../channels/inbox.ts";
import type { ProtocolName } from "../routes.ts";
import type { Creator } from "../sessions/create-limit.ts";
import type { TokenBucket } from "../sessions/rate-limit.ts";
import type { Transport } from "../transports/transport.ts";

export type { ProtocolName } from "../routes.ts";

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

/** `/connection/websocket` and `/connection/uni_websocket`: the client protocol; its session holds the rest. */
export interface ClientData extends Common {
  protocol: "centrifugo";
  client: ClientSession;
  /** `/connection/uni_websocket`: push-only, its first message is the connect request. */
  unidirectional: boolean;
}

/**
 * A client protocol session as the rest of the gateway sees it (the adapter, the Node's server API
 * parts, the socket index): `protocols/centrifugo/session.ts`'s `Session` fits it. Named here, not
 * imported, so the socket types do not depend on the session that uses them.
 */
export interface ClientSession {
  /** Its client id (the connect result's `client`). */
  readonly id: string;
  /** Its user once connected ("" when anonymous; undefined before). */
  readonly user: string | undefined;
  /** Its encoding (fixed at upgrade or at the stream's connect). */
  readonly encoding: "json" | "protobuf";
  /** The connection is open: what carries it (a WebSocket, an HTTP stream). */
  attach(transport: Transport): void;
  /** A frame from the client: its commands, in order. */
  onFrame(message: string | Buffer): void;
  /** A unidirectional connect (the request itself, not a command): the connect push, then pushes only. */
  connectUni(request: object): void;
  /** The sweeper's look: token expiry, output over the limit (3008), ping, pong deadline. */
  sweep(now: number): void;
  /** The socket closed: every subscription ends. */
  closed(): void;
  /** Closes the connection with a protocol disconnect code (`rejection`: the counter to count it under). */
  disconnect(d: { code: number; reason: string }, rejection?: string): void;
  /** The server API's unsubscribe from `channel`; false when not subscribed to it. */
  serverUnsubscribe(channel: string): boolean;
  /** The server API's subscribe to `channel` (allowed already; `info`: its channel info, `data`: the push's); false when it was not made (subscribed already, at its limit, not connected). */
  serverSubscribe(channel: ServedChannel, info: unknown, data: unknown): Promise<boolean>;
  /** The server API's refresh: closed now with 3005 (`expired`), or expiring at `expiresAt` (ms since the epoch; undefined: never); false when not connected. */
  serverRefresh(expired: boolean, expiresAt: number | undefined): boolean;
  /** Bun's drain: its output shrank (its inbox's paused replay goes on). */
  drain(): void;
}

export type SocketData = EchoData | RoomData | MonitorData | NotificationsData | ClientData;
export type GatewaySocket = ServerWebSocket<SocketData>;
/** A socket of one protocol. */
export type SocketOf<D extends SocketData> = ServerWebSocket<D>;
