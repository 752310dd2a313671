import type { Sink } from "../channels/sink.ts";
import type { EncodingName } from "../protocols/centrifugo/push.ts";

/** The transports of the client protocol, by the names Centrifugo and its SDKs use. */
export type TransportName = "websocket" | "http_stream" | "sse" | "uni_websocket" | "uni_http_stream" | "uni_sse";

/** What a transport is; fixed for its life. */
export interface TransportInfo {
  readonly name: TransportName;
  /** JSON, or Protobuf (WebSocket and HTTP-streaming only). */
  readonly encoding: EncodingName;
  /** Push-only: the connect request comes with the request that opened it, nothing after. */
  readonly unidirectional: boolean;
  /** The commands after connect come through `/emulation` (http_stream, sse). */
  readonly emulation: boolean;
}

/** Why a connection ends: a code of the client protocol (3000-3499 the SDKs reconnect, 3500-3999 they stop) and a reason under 123 bytes. */
export interface Disconnect {
  code: number;
  reason: string;
}

/** A frame of the client protocol, as one WebSocket frame carries it: JSON text (replies one per line) or Protobuf bytes (length-delimited replies). */
export type Frame = string | Uint8Array;

/**
 * One client connection as its session sees it, whatever carries it (centrifuge's `Transport`).
 * A `Sink` too, so channels write to it and subscribe it to their topics as they do a WebSocket.
 * A unidirectional transport takes frames in the bidirectional form and writes the pushes the
 * way its clients read them (`{"channel":…,"pub":…}` for `{"push":{…}}`).
 */
export interface Transport extends Sink {
  /** Name, encoding, push-only, emulated. */
  readonly info: TransportInfo;
  /** True once closed, by either side (or cut for reading too slowly). */
  readonly closed: boolean;
  /** Writes one frame; false when it was not taken (closed, or this write made a slow reader's output too large and cut it). */
  write(frame: Frame): boolean;
  /** Writes frames in order, as one write where the transport can; false as for `write`. */
  writeMany(frames: readonly Frame[]): boolean;
  /** Ends the connection with `disconnect` (WebSocket: the close code and reason; a stream: a disconnect push, then its end). Idempotent. */
  close(disconnect: Disconnect): void;
  /** Output written and not yet taken by the peer, in bytes (the slow-reader check). */
  bufferedBytes(): number;
}
