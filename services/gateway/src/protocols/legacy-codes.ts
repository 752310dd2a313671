import { CloseCode } from "@rt/protocol";
import type { GatewaySocket } from "./socket-data.ts";

/** The article endpoints' close codes (docs/websocket.md). */
export const SLOW = { code: CloseCode.TryAgainLater, reason: "slow consumer" };
export const EXPIRED = { code: CloseCode.PolicyViolation, reason: "token expired" };

/** More frames than the rate limit allows: 1008 `rate limit`. */
export function closeForRate(ws: GatewaySocket): void {
  ws.close(CloseCode.PolicyViolation, "rate limit");
}

/** The gateway shuts down: 1001. */
export function goingAway(ws: GatewaySocket): void {
  ws.close(CloseCode.GoingAway, "shutting down");
}

/** An unexpected failure: 1011. */
export function internalError(ws: GatewaySocket): void {
  ws.close(CloseCode.InternalError, "internal error");
}
