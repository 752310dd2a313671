import type { ServerWebSocket } from "bun";
import type { Backoff } from "./backoff.ts";
import type { StreamCursor } from "./channels/cursor.ts";
import type { LiveEvent } from "./notifications.ts";
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
  /** The `epoch` the client's `since` belongs to (undefined: the current one). */
  sinceEpoch: string | undefined;
  /** When the socket was accepted (ms, this gateway's clock): a live-only socket gets what was stored from then on. */
  openedAt: number;
  /** Where the socket stands in the user's inbox (owned by notifications.ts). */
  cursor: StreamCursor<LiveEvent>;
  /** The socket's one store-reading task. */
  sync: {
    running: boolean;
    /** Asked to run again while running. */
    again: boolean;
    retry: ReturnType<typeof setTimeout> | undefined;
    /** Wakes a replay paused for backpressure (set while paused). */
    onDrain: (() => void) | undefined;
    backoff: Backoff;
  };
}

export type SocketData = EchoData | RoomData | MonitorData | NotificationsData;
export type GatewaySocket = ServerWebSocket<SocketData>;
