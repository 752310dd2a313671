import { TEMPORARY_ERRORS, errorMessage, type Disconnect } from "./codes.ts";

/**
 * A request refused with a protocol code: the one error type of every entry point (client protocol
 * commands, the server API on the gateway and on the notifier). Answered as `{"code", "message"}`
 * (an error reply, an API error), or, with `disconnect`, by closing the client's connection.
 */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";

  /**
   * `code`: an error code (100-112, or an application's 400-1999 a backend answered); `disconnect`:
   * close the connection instead of answering (client protocol only); `temporary`: whether the SDKs
   * retry by themselves (default: the code's, true for 100 and 111).
   */
  constructor(readonly code: number, readonly disconnect?: Disconnect, message?: string, readonly temporary: boolean = TEMPORARY_ERRORS.has(code)) {
    super(message ?? errorMessage(code));
  }

  /** The error as a client protocol reply carries it: `{code, message, temporary?}`. */
  toReply(): { code: number; message: string; temporary?: true } {
    return this.temporary ? { code: this.code, message: this.message, temporary: true } : { code: this.code, message: this.message };
  }

  /** The error as the server API answers it: `{"error": {code, message}}`. */
  toAnswer(): { error: { code: number; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}
