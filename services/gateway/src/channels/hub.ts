import type { Stored } from "../broker/outbox.ts";
import type { Creator } from "../sessions/create-limit.ts";
import type { EncodingName, ProtocolPublication, PushEncoding } from "../protocols/centrifugo/push.ts";
import type { DeltaChannels } from "./delta/delta-channels.ts";

export type { ProtocolPublication } from "../protocols/centrifugo/push.ts";

/** Who a channel's publications go to on this gateway (what is serialized depends on it): `/chat/` sockets, or protocol subscribers of an encoding. */
export type Audience = "legacy" | EncodingName;

/** Where a subscriber starts: the channel's position, and what it missed when it asked to recover (a channel without history: offset 0, epoch ""). */
export interface Position {
  epoch: string;
  offset: number;
  recovered: boolean;
  publications: ProtocolPublication[];
}

/** A position a client asks to recover from. */
export interface Recovery {
  offset: number;
  epoch: string;
}

/**
 * Why a publish was not taken: it would create a channel and its creator created too many lately
 * (`create_rate`), or it cannot reach the other gateways now (`unavailable`: a channel without
 * history while this gateway's NATS link is down). Its size the caller checked (limits.ts).
 */
export type PublishRefusal = "create_rate" | "unavailable";

/** What `history` asks. */
export interface HistoryQuery {
  limit: number;
  sinceOffset: number | undefined;
  reverse: boolean;
}

/** What `history` answers. */
export interface HistoryPage {
  epoch: string;
  offset: number;
  publications: ProtocolPublication[];
}

/** The Bun topic of a room's `/chat/{room}` sockets (protocol subscribers have one per encoding: PushEncoding.topic). */
export const legacyRoomTopic = (room: string): string => `room:${room}`;

/**
 * One kind of channel as this gateway serves it to its subscribers: a stream's channels (history,
 * recovery, offsets) or channels without history (core NATS). Publications reach subscribers
 * through Bun topics, one per channel and encoding, each frame serialized once.
 */
export interface ChannelHub {
  /** One more local holder of `channel` (a subscription, or a `/chat/` socket); the first one subscribes to it on NATS. */
  join(channel: string, audience: Audience): void;
  /** One holder fewer; the last one lets go of it. */
  leave(channel: string, audience: Audience): void;
  /**
   * Where a subscriber of a joined `channel` starts (recovering when asked). Resolves at a point
   * where the caller must, synchronously, send the reply and subscribe the socket to the channel's
   * topic: every later publication then reaches it through the topic, none twice.
   */
  position(channel: string, recover: Recovery | undefined): Promise<Position>;
  /** `pos` brought up to now, synchronously, for a caller that placed several channels before one reply. */
  catchUp(channel: string, pos: Position, recovering: boolean): Position;
  /**
   * Publishes `data` on `channel`, as `payload` (its stored form, serialized once and measured by
   * the caller: `roomPayload`, limits.ts); `creator`: whose creation allowance it spends. Undefined
   * once taken, or why not. `skipHistory` (a publish proxy's `skip_history`): delivered to every
   * gateway's subscribers, not stored (nothing is, on a hub without history). `stored`, when given
   * and the publication was taken, is told once: true when it is stored (a hub that stores nothing,
   * or `skipHistory`: at once), false when that could not be confirmed in time.
   */
  publish(channel: string, data: unknown, payload: string, creator: Creator, skipHistory?: boolean, stored?: Stored): PublishRefusal | undefined;
  /** Writes the channel's held pushes now: call it before a socket subscribes to the channel's topic (its reply covers them). */
  flush(channel: string): void;
  /** The Bun topic of `channel`'s publications in `enc`. */
  topic(channel: string, enc: PushEncoding): string;
  /** The channels' Fossil delta subscribers here (each one is a holder too): on their own topics, fed by every publication the hub fans out. */
  readonly deltas: DeltaChannels;
  /** Each channel with holders here, and how many. */
  holdersByChannel(): Iterable<[string, number]>;
  /** Channels with a holder here. */
  readonly size: number;
  /** Holders of every channel here. */
  readonly holders: number;
}

/** The channels that keep history answer `history` and know their stream's epoch. */
export interface HistoryHub extends ChannelHub {
  /** Kept publications of `channel`, oldest first (newest first with `reverse`). */
  history(channel: string, q: HistoryQuery): Promise<HistoryPage>;
  /** The stream's epoch, once known. */
  currentEpoch(): Promise<string>;
}
