import type { TopicPublisher } from "../channels/sink.ts";
import { toUni, wireBytes, type WireFormat } from "./framing.ts";
import type { Frame } from "./transport.ts";

/** What the hub writes to: an HTTP stream of one wire format. */
export interface StreamSink {
  /** How this sink's bytes are framed (the hub encodes each frame once per format, for every sink of it). */
  readonly format: WireFormat;
  /** Writes bytes already in this sink's format (shared with other sinks: never changed); false when not taken. */
  writeWire(bytes: Uint8Array): boolean;
}

/** Where Bun topic publishes go: Bun's `Server` fits. */
export type { TopicPublisher };

/** The Bun topic where the unidirectional WebSockets of `topic` get its pushes in their form. */
export const uniTopic = (topic: string): string => `u:${topic}`;

/**
 * Local fan-out of every topic (a channel in one encoding, as the channels name them), for every
 * transport, serialized once (centrifuge's `Hub`):
 * - bidirectional WebSockets: Bun's own topic publish, as before (`ws.subscribe(topic)`);
 * - HTTP streams (http_stream, sse and their unidirectional forms): a set of sinks per topic; a
 *   frame is encoded once per wire format and the same bytes written to each sink of that format;
 * - unidirectional WebSockets: the pushes in their form (`{"channel":…,"pub":…}`), converted once
 *   and published on the Bun topic `u:<topic>`, only while one of them holds the topic.
 *
 * `publish(topic, frame)` does all of it in one call, with the signature of Bun's `server.publish`:
 * whatever published to the server publishes to the hub instead. A topic with no stream sink and no
 * unidirectional socket costs two map lookups more than Bun's publish alone.
 */
export class Hub implements TopicPublisher {
  private readonly sinks = new Map<string, Set<StreamSink>>();
  private readonly uniSockets = new Map<string, number>();

  /** `bun`: the server, once it listens (undefined before: nothing to publish to yet). */
  constructor(private readonly bun: () => TopicPublisher | undefined) {}

  /** `sink` gets `topic`'s frames from now on. */
  subscribe(sink: StreamSink, topic: string): void {
    let set = this.sinks.get(topic);
    if (!set) this.sinks.set(topic, (set = new Set()));
    set.add(sink);
  }

  /** `sink` stops getting `topic`'s frames. */
  unsubscribe(sink: StreamSink, topic: string): void {
    const set = this.sinks.get(topic);
    if (set?.delete(sink) && set.size === 0) this.sinks.delete(topic);
  }

  /** One more unidirectional WebSocket subscribed to `uniTopic(topic)`: the hub publishes there from now on. */
  holdUniSocket(topic: string): void {
    this.uniSockets.set(topic, (this.uniSockets.get(topic) ?? 0) + 1);
  }

  /** One unidirectional WebSocket fewer on `topic`. */
  releaseUniSocket(topic: string): void {
    const n = (this.uniSockets.get(topic) ?? 0) - 1;
    if (n > 0) this.uniSockets.set(topic, n);
    else this.uniSockets.delete(topic);
  }

  /**
   * Publishes one frame of `topic` to every local subscriber, whatever its transport; returns what
   * Bun's publishes to WebSockets returned (the bytes published, 0 when none: the sweeper's count).
   */
  publish(topic: string, frame: Frame): number {
    const bun = this.bun();
    let published = bun?.publish(topic, frame) ?? 0;
    if (this.uniSockets.has(topic) && typeof frame === "string") published += bun?.publish(uniTopic(topic), toUni(frame)) ?? 0;
    const set = this.sinks.get(topic);
    if (set) this.writeSinks(set, frame);
    return published;
  }

  /** Unidirectional WebSockets holding `topic`. */
  uniSocketCount(topic: string): number {
    return this.uniSockets.get(topic) ?? 0;
  }

  /** Subscribers of `topic` that are not Bun's bidirectional WebSockets: stream sinks and unidirectional sockets. */
  othersCount(topic: string): number {
    return (this.sinks.get(topic)?.size ?? 0) + (this.uniSockets.get(topic) ?? 0);
  }

  /** Stream sinks of `topic`. */
  sinkCount(topic: string): number {
    return this.sinks.get(topic)?.size ?? 0;
  }

  /** Topics with a stream sink or a unidirectional WebSocket here. */
  get topics(): number {
    let n = this.sinks.size;
    for (const t of this.uniSockets.keys()) if (!this.sinks.has(t)) n++;
    return n;
  }

  private writeSinks(set: Set<StreamSink>, frame: Frame): void {
    // The frame's bytes per format, made the first time a sink of that format needs them.
    let ndjson: Uint8Array | undefined;
    let sse: Uint8Array | undefined;
    let uni: string | undefined;
    let uniNdjson: Uint8Array | undefined;
    let uniSse: Uint8Array | undefined;
    for (const sink of set) {
      let bytes: Uint8Array;
      switch (sink.format) {
        case "protobuf":
          if (typeof frame === "string") continue; // a JSON topic: not for this sink
          bytes = frame;
          break;
        case "ndjson":
          if (typeof frame !== "string") continue;
          bytes = ndjson ??= wireBytes("ndjson", frame);
          break;
        case "sse":
          if (typeof frame !== "string") continue;
          bytes = sse ??= wireBytes("sse", frame);
          break;
        case "uni-ndjson":
          if (typeof frame !== "string") continue;
          bytes = uniNdjson ??= wireBytes("uni-ndjson", (uni ??= toUni(frame)));
          break;
        case "uni-sse":
          if (typeof frame !== "string") continue;
          bytes = uniSse ??= wireBytes("uni-sse", (uni ??= toUni(frame)));
          break;
      }
      sink.writeWire(bytes);
    }
  }
}
