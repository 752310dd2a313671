import type { EncodingName } from "../protocols/centrifugo/push.ts";
import { BoundedStream, MAX_CHUNK_BYTES, type StreamEnd } from "./bounded-stream.ts";
import { disconnectBytes, formatOf, toUni, wireBytes, type WireFormat } from "./framing.ts";
import type { Hub, StreamSink } from "./hub.ts";
import type { Disconnect, Frame, Transport, TransportInfo, TransportName } from "./transport.ts";

/** The transports an HTTP response carries. */
export type StreamTransportName = Extract<TransportName, "http_stream" | "sse" | "uni_http_stream" | "uni_sse">;

/** How a connection on an HTTP response ended: its own `close` (`server`), the client going away (`peer`), or a cut for reading too slowly (`slow`). */
export type StreamClose = "server" | "peer" | "slow";

/** What a stream transport needs. */
export interface StreamTransportOptions {
  name: StreamTransportName;
  /** Protobuf: HTTP-streaming only. */
  encoding: EncodingName;
  /** BACKPRESSURE_LIMIT_BYTES: output a slow reader may leave unread; the sweep (OpenStreams) closes a stream over it. */
  limitBytes: number;
  /** Where a write cuts the stream at once, between sweeps (default: twice the limit and four chunks, as Bun's own cut-off for WebSockets). */
  hardLimitBytes?: number;
  /** How long a closed stream may take to be read to its end (default END_GRACE_MS). */
  closeGraceMs?: number;
  /** Where its topic subscriptions go. */
  hub: Hub;
  /** Bytes written first, before any frame (SSE: an empty line, so the headers leave at once). */
  preamble?: Uint8Array;
}

/**
 * A client connection on a streaming HTTP response (HTTP-streaming, SSE, and their unidirectional
 * forms): frames are written in the transport's wire format into a BoundedStream, topic
 * subscriptions go to the Hub, and `close` writes the disconnect push before the end. `body` is the
 * response's body (http-stream.ts and sse.ts make the response around it).
 *
 * A slow reader is handled as a WebSocket's: over `limitBytes` at a sweep, it is closed
 * (OpenStreams.sweep); a write that takes it over `hardLimitBytes` cuts it at once. Closing a stream
 * whose reader is that far behind resets it (the disconnect push would wait behind what it does not
 * read); its client reconnects and recovers, as after 3008.
 */
export class StreamTransport implements Transport, StreamSink {
  readonly info: TransportInfo;
  readonly format: WireFormat;
  private readonly out: BoundedStream;
  private readonly hub: Hub;
  private readonly topics = new Set<string>();
  private readonly closers: Array<(why: StreamClose) => void> = [];
  private how: StreamClose | undefined;
  /** BACKPRESSURE_LIMIT_BYTES as given. */
  readonly limitBytes: number;

  constructor(o: StreamTransportOptions) {
    const sse = o.name === "sse" || o.name === "uni_sse";
    const unidirectional = o.name === "uni_http_stream" || o.name === "uni_sse";
    this.format = formatOf(sse, o.encoding === "protobuf", unidirectional);
    this.info = { name: o.name, encoding: o.encoding, unidirectional, emulation: !unidirectional };
    this.hub = o.hub;
    this.limitBytes = o.limitBytes;
    this.out = new BoundedStream(o.hardLimitBytes ?? 2 * o.limitBytes + 4 * MAX_CHUNK_BYTES, (why) => this.ended(why), o.closeGraceMs);
    if (o.preamble) this.out.write(o.preamble);
  }

  /** The response body. */
  get body(): ReadableStream<Uint8Array> {
    return this.out.body;
  }

  get closed(): boolean {
    return this.how !== undefined;
  }

  /** How it closed (undefined while open). */
  get closedBy(): StreamClose | undefined {
    return this.how;
  }

  write(frame: Frame): boolean {
    if (this.how) return false;
    return this.writeWire(this.bytes(frame));
  }

  writeMany(frames: readonly Frame[]): boolean {
    if (this.how) return false;
    if (frames.length === 1) return this.write(frames[0]!);
    const parts = frames.map((f) => this.bytes(f));
    let size = 0;
    for (const p of parts) size += p.byteLength;
    const all = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.byteLength;
    }
    return this.writeWire(all);
  }

  writeWire(bytes: Uint8Array): boolean {
    if (this.how) return false;
    return this.out.write(bytes);
  }

  /** Sink: writes one frame; its bytes, or 0 when not taken. */
  send(data: string | Uint8Array): number {
    if (this.how) return 0;
    const bytes = this.bytes(data);
    return this.writeWire(bytes) ? bytes.byteLength : 0;
  }

  close(d: Disconnect): void {
    if (this.how) return;
    if (this.out.bufferedBytes > this.limitBytes) return this.out.cut(); // settles as slow
    this.settle("server");
    this.out.end(disconnectBytes(this.format, d));
  }

  /** True when the reader left more than `limitBytes` unread (the sweep closes it). */
  get slow(): boolean {
    return this.out.bufferedBytes > this.limitBytes;
  }

  bufferedBytes(): number {
    return this.out.bufferedBytes;
  }

  getBufferedAmount(): number {
    return this.out.bufferedBytes;
  }

  subscribe(topic: string): void {
    if (this.how || this.topics.has(topic)) return;
    this.topics.add(topic);
    this.hub.subscribe(this, topic);
  }

  unsubscribe(topic: string): void {
    if (!this.topics.delete(topic)) return;
    this.hub.unsubscribe(this, topic);
  }

  /** `fn` runs each time the reader took what waited while its socket was full (as Bun's WebSocket `drain`). */
  onDrain(fn: () => void): void {
    this.out.onDrain = fn;
  }

  /** `fn` runs once when the connection closes, whoever closed it (at once when it is closed already). */
  onClose(fn: (why: StreamClose) => void): void {
    if (this.how) fn(this.how);
    else this.closers.push(fn);
  }

  /** A frame in this transport's wire format (unidirectional: its pushes unwrapped first). */
  private bytes(frame: Frame): Uint8Array {
    return wireBytes(this.format, this.info.unidirectional && typeof frame === "string" ? toUni(frame) : frame);
  }

  private ended(why: StreamEnd): void {
    // `ended`: the end this transport's close asked for (settled there already).
    if (why !== "ended") this.settle(why);
  }

  /** Closed: out of every topic, and whoever waits is told (once). */
  private settle(how: StreamClose): void {
    if (this.how) return;
    this.how = how;
    for (const topic of this.topics) this.hub.unsubscribe(this, topic);
    this.topics.clear();
    for (const fn of this.closers.splice(0)) fn(how);
  }
}

/** Compile-time check that the stream transport fits both interfaces. */
const _fits: (o: StreamTransportOptions) => Transport & StreamSink = (o) => new StreamTransport(o);
void _fits;
