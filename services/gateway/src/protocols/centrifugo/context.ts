import type { Logger } from "@rt/runtime";
import type { Authenticator } from "../../auth.ts";
import type { GatewayCounters } from "../../metrics.ts";
import type { Node } from "../../node/node.ts";
import type { Subscriber } from "../../node/subscription.ts";
import type { RpcRelay } from "../../proxies/rpc-relay.ts";
import type { Rejections } from "../../rejections.ts";
import type { Creator } from "../../sessions/create-limit.ts";
import type { SocketIndex } from "../../sessions/socket-index.ts";
import type { Subscriptions } from "../../sessions/subscriptions.ts";
import type { SubscriptionTokens } from "../../subscription-token.ts";
import type { ClientData, SocketOf } from "../socket-data.ts";
import type { Codec } from "./codec.ts";

/** What every client session needs from the gateway. */
export interface ClientDeps {
  auth: Authenticator;
  /** Subscription tokens (for channels a client may not subscribe to by itself). */
  subscriptionTokens: SubscriptionTokens;
  /** The one gateway API: channels, policy, presence, history. */
  node: Node;
  rpc: RpcRelay;
  codec: Codec;
  rejections: Rejections;
  counters: GatewayCounters;
  log: Logger;
  /** Connections per user on this gateway (for MAX_CONNECTIONS_PER_USER). */
  perUser: Map<string, number>;
  /** Sockets by user and client id (for the server API); a client is added once connected. */
  sockets: SocketIndex;
  config: ClientConfig;
}

/** The protocol's settings (from the gateway's configuration). */
export interface ClientConfig {
  pingIntervalSec: number;
  /** How long a client may leave the oldest ping unanswered (then 3012). */
  pongTimeoutMs: number;
  allowAnonymous: boolean;
  maxConnectionsPerUser: number;
  rateLimitPerSec: number;
  rateLimitBurst: number;
  maxChannels: number;
  version: string;
  /** How long an expired subscription may go unrenewed before it is unsubscribed (2501): the SDK renews right at the expiry. */
  subscriptionExpiryGraceMs: number;
}

/** Where a session is: before connect, checking its token, connected, or closed. */
export type SessionState = "new" | "connecting" | "connected" | "closed";

/** What a command handler sees of its session (protocols/centrifugo/session.ts). */
export interface ClientContext {
  /** The client id (the connect result's `client`). */
  readonly id: string;
  /** The user once connected ("" when anonymous). */
  user: string | undefined;
  state: SessionState;
  /** A connect was accepted into the queue (it may still be checking its token). */
  connectQueued: boolean;
  /** When the last ping was sent. */
  lastPingAt: number;
  readonly ws: SocketOf<ClientData>;
  readonly d: ClientDeps;
  readonly subs: Subscriptions;
  /** Sends a reply (nothing when the command had no id, or the session closed). */
  reply(id: number | undefined, method: string, result: object): void;
  /** Sends the reply once `result` resolves (an error reply if it fails), without holding up the commands after this one. */
  replyWhen(id: number | undefined, method: string, result: Promise<object>): void;
  /** Sends a push (nothing once closed). */
  push(body: object): void;
  /** Closes the connection with a protocol disconnect code. */
  disconnect(d: { code: number; reason: string }, rejection?: string): void;
  /** Whose channel creation allowance this client's publications spend. */
  creator(): Creator;
  /** This connection as a subscriber (once connected). */
  subscriber(): Subscriber;
}
