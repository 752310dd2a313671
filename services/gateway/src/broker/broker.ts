import type { Msg, MsgHdrs } from "@nats-io/transport-node";
import type { BrokerStreams } from "./streams.ts";

/**
 * The gateway's one seam to NATS: interest-based subscriptions, publishing, and the link's state.
 * Everything else in the gateway talks to NATS through it, so it can be used before the first
 * connect (the gateway serves health and sockets from the moment it starts). Two implementations:
 * NatsBroker (nats-broker.ts, production) and MemoryBroker (broker-memory.ts, in-process tests);
 * test/broker-contract.ts holds both to the same behaviour.
 */
export interface Broker {
  /** True while connected. */
  connected(): boolean;
  /** Holds `subject` for one more local user; the first hold subscribes (at once, or at the first connect). */
  acquire(subject: string, onMsg: (msg: Msg) => void): void;
  /** Answers `subject` for good, as one of queue group `queue` (each message goes to one member); subscribed at once or at the first connect. */
  serve(subject: string, queue: string, onMsg: (msg: Msg) => void): void;
  /** Lets go of one hold on `subject`; the last one unsubscribes. */
  release(subject: string): void;
  /** Core publish while connected (with `reply`: where the answer goes); false (nothing sent) when not. */
  publish(subject: string, payload: string | Uint8Array, headers?: MsgHdrs, reply?: string): boolean;
  /** A request to backends (`rpc.*`), answered under REPLY_PREFIX.proxy; rejects on no responders, a timeout, or the link dropping. */
  request(subject: string, payload: string, timeoutMs: number): Promise<Msg>;
  /**
   * A request answered by many gateways (under REPLY_PREFIX.gather): each answer goes to `onAnswer` (true: that was the last one needed)
   * until then, `timeoutMs` or the link dropping; rejects at once when not connected.
   */
  gather(subject: string, payload: string, timeoutMs: number, onAnswer: (msg: Msg) => boolean): Promise<void>;
  /** A subject prefix only this connection's replies from NATS itself use (`<prefix>.<token>`: the stream's acks). */
  readonly inboxPrefix: string;
  /** Resolves once NATS has had everything published before it (PING/PONG); rejects if the link drops first. */
  flush(): Promise<void>;
  /** Rejects when the link next drops: race a request against it to fail fast instead of waiting out its timeout. */
  linkDown(): Promise<never>;
  /** The streams (JetStream), once connected for the first time. */
  streams(): BrokerStreams | undefined;
  /** The largest message the server takes (0 before the first connect). */
  maxPayload(): number;
  /** `fn` runs at the first connect and after every reconnect. */
  onUp(fn: () => void): void;
  /** `fn` runs each time the link drops. */
  onDown(fn: () => void): void;
  /** Subjects held now. */
  readonly subscriptions: number;
}
