import type { ServerWebSocket } from "bun";
import type { EncodingName } from "../protocols/centrifugo/push.ts";
import { toUni } from "./framing.ts";
import { uniTopic, type Hub } from "./hub.ts";
import type { Disconnect, Frame, Transport, TransportInfo } from "./transport.ts";

/** The part of Bun's ServerWebSocket a transport uses (any `ws.data`). */
export type BunSocket = Pick<ServerWebSocket<unknown>, "send" | "close" | "subscribe" | "unsubscribe" | "getBufferedAmount" | "readyState">;

/**
 * A client connection on a Bun WebSocket: `/connection/websocket` (bidirectional, JSON or
 * Protobuf) or `/connection/uni_websocket` (push-only, JSON). Thin: a write is `ws.send`, a topic
 * is a Bun topic, so the fan-out stays Bun's own. A unidirectional socket gets its pushes in its
 * form: what it is sent is unwrapped (`{"push":X}` → `X`), and it joins `u:<topic>`, which the Hub
 * publishes once per frame while such a socket holds the topic.
 *
 * Bun closes the socket; when it has, the server's close handler calls `socketClosed()` so the
 * hub's count of unidirectional sockets stays right.
 */
export class WebSocketTransport implements Transport {
  readonly info: TransportInfo;
  private readonly uniTopics: Set<string> | undefined;
  private done = false;

  constructor(
    private readonly ws: BunSocket,
    encoding: EncodingName,
    unidirectional: boolean,
    private readonly hub: Hub,
  ) {
    if (unidirectional && encoding !== "json") throw new RangeError("the unidirectional WebSocket speaks JSON only");
    this.info = { name: unidirectional ? "uni_websocket" : "websocket", encoding, unidirectional, emulation: false };
    this.uniTopics = unidirectional ? new Set() : undefined;
  }

  get closed(): boolean {
    return this.done || this.ws.readyState !== 1;
  }

  write(frame: Frame): boolean {
    return this.send(frame) !== 0;
  }

  writeMany(frames: readonly Frame[]): boolean {
    if (frames.length === 1) return this.write(frames[0]!);
    if (frames.every((f) => typeof f === "string")) return this.write(frames.join("\n"));
    let size = 0;
    for (const f of frames) size += f.length;
    const all = new Uint8Array(size);
    let at = 0;
    for (const f of frames) {
      if (typeof f === "string") throw new TypeError("a frame list mixes JSON and Protobuf");
      all.set(f, at);
      at += f.byteLength;
    }
    return this.write(all);
  }

  /** Sink: `ws.send` (the bytes sent, -1 when queued behind backpressure, 0 when dropped or closed). */
  send(data: string | Uint8Array): number {
    if (this.closed) return 0;
    return this.ws.send(this.uniTopics && typeof data === "string" ? toUni(data) : data);
  }

  close(d: Disconnect): void {
    if (this.done) return;
    this.done = true;
    this.ws.close(d.code, d.reason);
  }

  bufferedBytes(): number {
    return this.ws.getBufferedAmount();
  }

  getBufferedAmount(): number {
    return this.ws.getBufferedAmount();
  }

  subscribe(topic: string): void {
    if (!this.uniTopics) {
      this.ws.subscribe(topic);
      return;
    }
    if (this.uniTopics.has(topic) || this.closed) return;
    this.uniTopics.add(topic);
    this.hub.holdUniSocket(topic);
    this.ws.subscribe(uniTopic(topic));
  }

  unsubscribe(topic: string): void {
    if (!this.uniTopics) {
      this.ws.unsubscribe(topic);
      return;
    }
    if (!this.uniTopics.delete(topic)) return;
    this.hub.releaseUniSocket(topic);
    if (!this.closed) this.ws.unsubscribe(uniTopic(topic));
  }

  /** Bun closed the socket (its topics are gone with it): the hub lets go of its unidirectional topics. */
  socketClosed(): void {
    this.done = true;
    if (!this.uniTopics) return;
    for (const topic of this.uniTopics) this.hub.releaseUniSocket(topic);
    this.uniTopics.clear();
  }
}

/** Compile-time check that the WebSocket transport fits the interface. */
const _fits: (ws: BunSocket, hub: Hub) => Transport = (ws, hub) => new WebSocketTransport(ws, "json", false, hub);
void _fits;
