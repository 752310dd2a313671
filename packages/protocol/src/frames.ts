import Type, { type Static } from "typebox";
import { validator, type FieldError } from "./validator.ts";

/** `/ws-chat` client frame: `{content, type?}`; unknown properties are ignored. */
export const ChatMessage = Type.Object({
  content: Type.String({ description: "The message." }),
  type: Type.Optional(Type.String({ description: "Any label; `\"text\"` when left out." })),
});
export type ChatMessage = Static<typeof ChatMessage>;
export const chatMessage = validator(ChatMessage);

/** `/ws-chat` answer to a valid frame. */
export const ChatReceived = Type.Object({
  status: Type.Literal("received"),
  data: Type.Object({ content: Type.String(), type: Type.String() }),
});
export type ChatReceived = Static<typeof ChatReceived>;

/** `/ws-chat` answer to anything invalid; the socket stays open. */
export const ChatError = Type.Object({
  status: Type.Literal("error"),
  errors: Type.Array(Type.Object({ path: Type.String(), message: Type.String() })),
});
export type ChatError = Static<typeof ChatError>;

/** Builds the `/ws-chat` answer for a valid message; `type` defaults to "text". */
export function chatReceived(msg: ChatMessage): string {
  const frame: ChatReceived = { status: "received", data: { content: msg.content, type: msg.type ?? "text" } };
  return JSON.stringify(frame);
}

/** Builds the `/ws-chat` error answer. */
export function chatError(errors: FieldError[]): string {
  const frame: ChatError = { status: "error", errors };
  return JSON.stringify(frame);
}

/** The text frame every member of a room receives. */
export const roomFrame = (room: string, message: string): string => `Room ${room}: ${message}`;
