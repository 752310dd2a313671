/** WebSocket close codes the gateway uses (docs/websocket.md, README "Close codes"). */
export const CloseCode = {
  /** Gateway shutting down; reconnect, to another gateway where there is one. */
  GoingAway: 1001,
  /** A frame type the endpoint does not take (binary on a text endpoint). */
  UnsupportedData: 1003,
  /** Policy: rate limit, expired token. */
  PolicyViolation: 1008,
  /** A frame over MAX_MESSAGE_BYTES. */
  MessageTooBig: 1009,
  /** Internal error. */
  InternalError: 1011,
  /** The socket could not keep up; reconnect (notifications: with `since`). */
  TryAgainLater: 1013,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
