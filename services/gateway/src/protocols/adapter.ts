import type { SocketData, SocketOf } from "./socket-data.ts";

/**
 * Turns one protocol's frames into operations on sessions and channels, and back: one adapter per
 * endpoint (protocols/*.ts). The server dispatches every socket event to its socket's adapter.
 */
export interface ProtocolAdapter<D extends SocketData> {
  /** The socket is open. */
  open(ws: SocketOf<D>): void;
  /** A frame arrived (already within the size limit). */
  message(ws: SocketOf<D>, message: string | Buffer): void;
  /** The socket sent more than its rate limit allows: close it (each protocol has its code). */
  overRate(ws: SocketOf<D>): void;
  /** Bun's drain: its output shrank. */
  drain(ws: SocketOf<D>): void;
  /** The socket closed. */
  close(ws: SocketOf<D>): void;
  /** The sweeper's look at one socket: slow output, an expired token, protocol timers. */
  sweep(ws: SocketOf<D>, now: number): void;
  /** The gateway shuts down: close with the protocol's code. */
  shutdown(ws: SocketOf<D>): void;
  /** Handling a frame failed unexpectedly: close with the protocol's internal-error code. */
  internalError(ws: SocketOf<D>): void;
}

/** One adapter per protocol name. */
export type Adapters = { [P in SocketData["protocol"]]: ProtocolAdapter<Extract<SocketData, { protocol: P }>> };
