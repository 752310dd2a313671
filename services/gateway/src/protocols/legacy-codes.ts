import { CloseCode } from "@rt/protocol";
import type { GatewaySocket } from "./socket-data.ts";

/** The article endpoints' close codes (docs/websocket.md). */
export const SLOW = { code: CloseCode.TryAgainLater, reason: "slow consumer" };
export const EXPIRED = { code: CloseCode.PolicyViolation, reason: "token expired" };
/** A `/chat/` message that would create its room past the client address's allowance (CHANNEL_CREATE_RATE_PER_MIN). */
export const CREATE_RATE = { code: CloseCode.PolicyViolation, reason: "channel create rate" };
/** A `/chat/` frame within MAX_MESSAGE_BYTES whose stored form (escaped as JSON, with its envelope) is not. */
export const TOO_LARGE_STORED = { code: CloseCode.MessageTooBig, reason: "message too big once stored" };

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
