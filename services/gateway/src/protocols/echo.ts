import { CloseCode, chatError, chatMessage, chatReceived, parseJson } from "@rt/protocol";
import type { EchoData } from "./socket-data.ts";
import type { ProtocolAdapter } from "./adapter.ts";
import { EXPIRED, SLOW, closeForRate, goingAway, internalError } from "./legacy-codes.ts";
import { closeIfOver, type SocketLimits } from "./limits.ts";

/** `/ws-chat`: the answer to one text frame (validated echo, or an error frame). */
export function echoReply(text: string): string {
  const r = parseJson(chatMessage, text);
  return r.ok ? chatReceived(r.value) : chatError(r.errors);
}

/** `/ws-chat`: the answer to a binary frame. */
export const BINARY_REPLY = chatError([{ path: "", message: "must be a text frame containing JSON" }]);

/** `/ws-chat`: a validated echo; a client that sends but never reads is closed with 1013 at the reply that overflows. */
export function echoAdapter(limits: SocketLimits): ProtocolAdapter<EchoData> {
  return {
    open() {},
    message(ws, message) {
      ws.send(typeof message === "string" ? echoReply(message) : BINARY_REPLY);
      if (ws.getBufferedAmount() > limits.backpressureBytes) ws.close(CloseCode.TryAgainLater, "slow consumer");
    },
    overRate: closeForRate,
    drain() {},
    close() {},
    sweep(ws, now) {
      closeIfOver(ws, now, limits, SLOW, EXPIRED);
    },
    shutdown: goingAway,
    internalError,
  };
}
