/** How the client protocol's messages travel on one connection (JSON now; Protobuf is the other). */
export interface Codec {
  /** The commands in one frame, or undefined when the frame cannot be read at all. */
  decode(message: string | Buffer): unknown[] | undefined;
  /** One frame carrying these replies (each a protocol Reply object). */
  encode(replies: object[]): string | Uint8Array;
}
