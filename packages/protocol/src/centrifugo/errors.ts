import { TEMPORARY_ERRORS, errorMessage, type Disconnect } from "./codes.ts";

/**
 * A request refused with a protocol code: the one error type of every entry point (client protocol
 * commands, the server API on the gateway and on the notifier). Answered as `{"code", "message"}`
 * (an error reply, an API error), or, with `disconnect`, by closing the client's connection.
 */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";

  /** `code`: an error code (100-112); `disconnect`: close the connection instead of answering (client protocol only). */
  constructor(readonly code: number, readonly disconnect?: Disconnect, message?: string) {
    super(message ?? errorMessage(code));
  }

  /** The error as a client protocol reply carries it: `{code, message, temporary?}` (temporary: the SDKs retry 100 and 111 by themselves). */
  toReply(): { code: number; message: string; temporary?: true } {
    return TEMPORARY_ERRORS.has(this.code) ? { code: this.code, message: this.message, temporary: true } : { code: this.code, message: this.message };
  }

  /** The error as the server API answers it: `{"error": {code, message}}`. */
  toAnswer(): { error: { code: number; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}
