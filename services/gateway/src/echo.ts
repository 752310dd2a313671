import { chatError, chatMessage, chatReceived, parseJson } from "@rt/protocol";

/** `/ws-chat`: the answer to one text frame (validated echo, or an error frame). */
export function echoReply(text: string): string {
  const r = parseJson(chatMessage, text);
  return r.ok ? chatReceived(r.value) : chatError(r.errors);
}

/** `/ws-chat`: the answer to a binary frame. */
export const BINARY_REPLY = chatError([{ path: "", message: "must be a text frame containing JSON" }]);
