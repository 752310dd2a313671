import type { SubscriptionFeatures } from "@rt/protocol";
import type { Sink } from "../channels/sink.ts";
import type { PushEncoding } from "../protocols/centrifugo/push.ts";

/** A connection as the Node sees it when it subscribes: who, its socket, and the encoding of its pushes. */
export interface Subscriber {
  /** Its client id. */
  readonly id: string;
  /** Its user ("" when anonymous). */
  readonly user: string;
  readonly sink: Sink;
  readonly pushes: PushEncoding;
  /** Its connection info (the connect proxy's `info`) as it is now, when it has one: in presence, joins and leaves. */
  readonly connInfo?: unknown;
}

/** How one subscription behaves: what the policy granted, and what a subscription token added. */
export interface SubscriptionGrant {
  features: SubscriptionFeatures;
  /** The subscriber's channel info (a subscription token's `info`/`b64info`): in its publications, presence, joins and leaves. */
  info: unknown;
}

/** An open subscription: what its connection holds until it ends. */
export interface Opened {
  /** The subscription ends (unsubscribe, or the socket closed): its topics, presence and hub hold are let go. */
  close(): void;
  /** Bun's drain: the socket's output shrank (an inbox's paused replay goes on). */
  drain?(): void;
}

/**
 * A subscription placed in its channel but not yet open: `result` goes into the reply (the
 * channel's position, what was recovered), then `open()` is called synchronously right after the
 * reply is written, so no publication slips between them. `cancel()` when the reply is not sent.
 */
export interface Placement {
  readonly channel: string;
  /** The subscribe (or connect `subs`) result's fields about the channel. */
  result: Record<string, unknown>;
  /** Brings `result` up to now, synchronously (connect places several channels before one reply). */
  catchUp(): void;
  open(): Opened;
  cancel(): void;
}
