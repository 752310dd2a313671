/** Error codes of command replies (Centrifugo client protocol v2). */
export const ErrorCode = {
  Internal: 100,
  Unauthorized: 101,
  UnknownChannel: 102,
  PermissionDenied: 103,
  MethodNotFound: 104,
  AlreadySubscribed: 105,
  LimitExceeded: 106,
  BadRequest: 107,
  NotAvailable: 108,
  TokenExpired: 109,
  Expired: 110,
  TooManyRequests: 111,
  UnrecoverablePosition: 112,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The message sent with each error code. */
export const ERROR_MESSAGES: Record<ErrorCode, string> = {
  100: "internal server error",
  101: "unauthorized",
  102: "unknown channel",
  103: "permission denied",
  104: "method not found",
  105: "already subscribed",
  106: "limit exceeded",
  107: "bad request",
  108: "not available",
  109: "token expired",
  110: "expired",
  111: "too many requests",
  112: "unrecoverable position",
};

/**
 * The message of an error code: its own entry of ERROR_MESSAGES, or "error" for any other value
 * (codes may come from outside: a gateway's answer, a backend's; `constructor` is not a code).
 */
export function errorMessage(code: unknown): string {
  return typeof code === "number" && Object.hasOwn(ERROR_MESSAGES, code) ? ERROR_MESSAGES[code as ErrorCode] : "error";
}

/** Errors the SDKs retry by themselves (as for codes below 100). */
export const TEMPORARY_ERRORS: ReadonlySet<number> = new Set([ErrorCode.Internal, ErrorCode.TooManyRequests]);

/**
 * Close codes on `/connection/websocket`: the SDKs reconnect on 3000-3499 and stop on 3500-3999.
 * Reasons are kept under 123 bytes (a close frame's limit).
 */
export const DisconnectCode = {
  Shutdown: { code: 3001, reason: "shutdown" },
  InternalError: { code: 3004, reason: "internal server error" },
  Expired: { code: 3005, reason: "connection expired" },
  Slow: { code: 3008, reason: "slow" },
  NoPong: { code: 3012, reason: "no pong" },
  TooManyRequests: { code: 3013, reason: "too many requests" },
  InvalidToken: { code: 3500, reason: "invalid token" },
  BadRequest: { code: 3501, reason: "bad request" },
  ForceNoReconnect: { code: 3503, reason: "force disconnect" },
  ConnectionLimit: { code: 3504, reason: "connection limit" },
  ChannelLimit: { code: 3505, reason: "channel limit" },
} as const;
export type Disconnect = (typeof DisconnectCode)[keyof typeof DisconnectCode];
