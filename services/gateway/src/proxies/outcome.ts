import { MAX_JSON_DEPTH, centrifugo, depthWithin } from "@rt/protocol";

/**
 * What a proxy call comes to, for the gateway to apply: the backend's result (mapped to what the
 * gateway uses), the error the client gets, or the disconnect the connection gets.
 */
export type ProxyOutcome<T> =
  | { kind: "result"; result: T }
  /**
   * Reply to the client with this error. `failure` is set when the gateway got no decision from a
   * backend (and made this error itself); absent, the backend chose the error.
   */
  | { kind: "error"; error: ProxyErrorReply; failure?: ProxyFailure }
  /** Close the connection with this code and reason (chosen by the backend). */
  | { kind: "disconnect"; disconnect: { code: number; reason: string } };

/** An error reply for the client. */
export interface ProxyErrorReply {
  code: number;
  message: string;
  /** The SDK tries again by itself. */
  temporary: boolean;
}

/**
 * Why no backend decided: no answer within PROXY_TIMEOUT (`timeout`), nobody subscribed to the
 * subject (`no_responders`), an answer the gateway cannot use (`malformed`), or NATS not reachable
 * from this gateway (`unavailable`).
 */
export type ProxyFailure = "timeout" | "no_responders" | "malformed" | "unavailable";

const { ErrorCode, ERROR_MESSAGES } = centrifugo;

/** The error a client gets when no backend decided: a temporary 100; 108 (not available) for an RPC nobody serves. */
export function failureError(failure: ProxyFailure, rpc: boolean): ProxyErrorReply {
  if (rpc && failure === "no_responders") return { code: ErrorCode.NotAvailable, message: ERROR_MESSAGES[ErrorCode.NotAvailable], temporary: false };
  return { code: ErrorCode.Internal, message: ERROR_MESSAGES[ErrorCode.Internal], temporary: true };
}

/** An answer that passed the schema but cannot be used (`b64data` that is not UTF-8 JSON, data nested too deep): a malformed answer. */
export class UnusableAnswer extends Error {
  constructor(readonly path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "UnusableAnswer";
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A payload a backend sent as `data` or `b64data` (`path`: where `data` is, for the log) (base64 of UTF-8 JSON; it wins when not empty,
 * as in Centrifugo): the JSON value, or undefined when neither is there. The gateway carries JSON
 * values on both encodings (Protobuf clients get the value's UTF-8 bytes), hence UTF-8 JSON.
 */
export function answerData(path: string, data: unknown, b64data: string | undefined): unknown {
  let value = data;
  if (b64data !== undefined && b64data !== "") {
    try {
      value = JSON.parse(utf8.decode(Buffer.from(b64data, "base64")));
    } catch {
      throw new UnusableAnswer(path.replace(/data$/, "b64data"), "must be base64 of UTF-8 JSON");
    }
  }
  if (!depthWithin(value)) throw new UnusableAnswer(path, `nested deeper than ${MAX_JSON_DEPTH} levels`);
  return value;
}

/** Channel or connection info: JSON (`info`), or bytes (`b64info`, which wins when not empty, as for subscription tokens). */
export interface AnswerInfo {
  info: unknown;
  infoBytes: Uint8Array | undefined;
}

/** The info a backend sent as `info` or `b64info`. */
export function answerInfo(path: string, info: unknown, b64info: string | undefined): AnswerInfo {
  if (b64info !== undefined && b64info !== "") return { info: undefined, infoBytes: new Uint8Array(Buffer.from(b64info, "base64")) };
  if (!depthWithin(info)) throw new UnusableAnswer(`${path}/info`, `nested deeper than ${MAX_JSON_DEPTH} levels`);
  return { info, infoBytes: undefined };
}

/** `expire_at` (Unix seconds; 0 or absent: never) as ms since the epoch, or undefined. */
export const expiresAt = (expireAt: number | undefined): number | undefined => (expireAt === undefined || expireAt === 0 ? undefined : expireAt * 1000);
