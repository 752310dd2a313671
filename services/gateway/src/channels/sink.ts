/**
 * What a channel may do to one subscriber: the part of a socket that channels (rooms, inboxes, the
 * monitor) write to. A leaf: channels name no protocol and no socket type, so they read and test
 * alone. Bun's `ServerWebSocket` fits it as it is.
 */
export interface Sink {
  /** Writes one frame; the bytes sent, -1 when queued behind backpressure, 0 when dropped. */
  send(data: string | Uint8Array): number;
  /** Joins a Bun topic: `server.publish(topic, …)` reaches this subscriber from then on. */
  subscribe(topic: string): void;
  /** Leaves a Bun topic. */
  unsubscribe(topic: string): void;
  /** Bytes written but not yet sent (backpressure). */
  getBufferedAmount(): number;
}

/** Where channels publish a frame to every local subscriber of a topic: the transports' Hub (Bun's `Server` fits too). */
export interface TopicPublisher {
  /** Publishes `data` to every subscriber of `topic`; the bytes published to WebSockets (0 when none). */
  publish(topic: string, data: string | Uint8Array): number;
}
