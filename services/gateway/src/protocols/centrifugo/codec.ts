import type { PushEncoding } from "./push.ts";

/** How the client protocol's messages travel on one connection: JSON in text frames, or Protobuf in binary ones. */
export interface Codec {
  /** Its pushes (shared by every connection of this encoding, through Bun topics). */
  readonly pushes: PushEncoding;
  /** The commands in one frame, or undefined when the frame cannot be read at all. */
  decode(message: string | Buffer): unknown[] | undefined;
  /** One frame carrying these replies (each a protocol Reply object). */
  encode(replies: object[]): string | Uint8Array;
}
