import type { GatewaySocket } from "./socket-data.ts";

/** What every adapter enforces the same way. */
export interface SocketLimits {
  /** BACKPRESSURE_LIMIT_BYTES: unsent output a socket may hold. */
  backpressureBytes: number;
}

/**
 * Closes `ws` with `code` when its unsent output is over the limit or its token expired (and returns true).
 * Never a silent drop: the client reconnects (and resumes where it can).
 */
export function closeIfOver(ws: GatewaySocket, now: number, limits: SocketLimits, slow: { code: number; reason: string }, expired: { code: number; reason: string }): boolean {
  if (ws.data.expiresAt !== undefined && ws.data.expiresAt <= now) {
    ws.close(expired.code, expired.reason);
    return true;
  }
  if (ws.getBufferedAmount() > limits.backpressureBytes) {
    ws.close(slow.code, slow.reason);
    return true;
  }
  return false;
}
