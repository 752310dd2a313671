import type { ServerWebSocket } from "bun";
import type { TokenBucket } from "./rate-limit.ts";

/** State every socket carries, set at upgrade (hono style: per-connection state lives in ws.data). */
interface Common {
  /** Frames this socket may still send (undefined: no limit). */
  bucket: TokenBucket | undefined;
}

/** `/ws-chat` */
export interface EchoData extends Common {
  kind: "echo";
}

/** `/chat/{room}` */
export interface RoomData extends Common {
  kind: "room";
  room: string;
  /** Bun topic of the room (`room:<id>`). */
  topic: string;
  /** NATS subject of the room, built once at upgrade. */
  subject: string;
}

/** `/system-monitor` */
export interface MonitorData extends Common {
  kind: "monitor";
  /** True while unsubscribed because it fell behind (conflation). */
  stalled: boolean;
}

/** `/notifications` */
export interface NotificationsData extends Common {
  kind: "notifications";
  userId: string;
  /** Token expiry in ms since the epoch (undefined: no token, insecure mode). */
  expiresAt: number | undefined;
  /** The `since` the client asked for (undefined: live only). */
  since: number | undefined;
  /** Delivery state, owned by notifications.ts. */
  cursor: NotificationCursor;
}

/** Where a notification socket stands: the last seq written and whether a read from the store is under way. */
export interface NotificationCursor {
  lastSeq: number | undefined;
  catchingUp: boolean;
  /** Live events that arrived during a read from the store, judged afterwards (bounded). */
  pending: Array<{ event: import("@rt/protocol").LiveNotification; bytes: number }>;
  /** Payload bytes held in `pending`. */
  pendingBytes: number;
  /** Wakes a replay paused for backpressure (set while paused). */
  onDrain?: (() => void) | undefined;
  /** The pending queue overflowed: another catch-up is owed. */
  overflowed: boolean;
  closed: boolean;
}

export type SocketData = EchoData | RoomData | MonitorData | NotificationsData;
export type GatewaySocket = ServerWebSocket<SocketData>;
