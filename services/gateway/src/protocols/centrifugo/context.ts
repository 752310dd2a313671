import type { Logger } from "@rt/runtime";
import type { Authenticator } from "../../auth.ts";
import type { GatewayCounters } from "../../metrics.ts";
import type { Node } from "../../node/node.ts";
import type { Subscriber } from "../../node/subscription.ts";
import type { ProxyClient } from "../../proxies/proxy-client.ts";
import type { ProxyConnection } from "../../proxies/request-fields.ts";
import type { Rejections } from "../../rejections.ts";
import type { Creator } from "../../sessions/create-limit.ts";
import type { SocketIndex } from "../../sessions/socket-index.ts";
import type { Subscriptions } from "../../sessions/subscriptions.ts";
import type { SubscriptionTokens } from "../../subscription-token.ts";
import type { EmulatedSession } from "../../transports/emulation.ts";
import type { SessionSecrets } from "../../transports/session-secrets.ts";
import type { Transport } from "../../transports/transport.ts";
import type { Codec } from "./codec.ts";

/** What every client session needs from the gateway. */
export interface ClientDeps {
  auth: Authenticator;
  /** Subscription tokens (for channels a client may not subscribe to by itself). */
  subscriptionTokens: SubscriptionTokens;
  /** The one gateway API: channels, policy, presence, history. */
  node: Node;
  /** The decisions handed to backends over NATS (connect, refresh, subscribe, publish, sub_refresh, rpc). */
  proxies: ProxyClient;
  codec: Codec;
  rejections: Rejections;
  counters: GatewayCounters;
  log: Logger;
  /** Connections per user on this gateway (for MAX_CONNECTIONS_PER_USER). */
  perUser: Map<string, number>;
  /** Sockets by user and client id (for the server API); a client is added once connected. */
  sockets: SocketIndex;
  config: ClientConfig;
  /** For the transports whose commands come through `/emulation`: this gateway's id (the connect result's `node`) and where sessions register their secret. */
  emulation?: { node: string; sessions: SessionSecrets<EmulatedSession> };
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
  /** BACKPRESSURE_LIMIT_BYTES: output a connection may leave unread before it is closed (3008). */
  backpressureLimitBytes: number;
}

/** Where a connection comes from, as its transport saw it when it opened. */
export interface ClientOrigin {
  /** The client's address (the peer's: a proxy's, behind one; "" when unknown). */
  address: string;
  /** Its transport's name as the proxies tell it (`websocket`, `http_stream`, `sse`, ...). */
  transport: string;
  /** The opening request's headers named in PROXY_HTTP_HEADERS, lower case (for `proxy.connect`). */
  headers: Record<string, string>;
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
  /** What carries the connection. */
  readonly transport: Transport;
  /** When its token expires (ms since the epoch; undefined: never): the sweep closes it then (3005). */
  expiresAt: number | undefined;
  /** The connect result's `session` and `node` when its commands come through `/emulation` (the secret is issued at the first call). */
  emulation(): { session: string; node: string } | undefined;
  readonly d: ClientDeps;
  readonly subs: Subscriptions;
  /** Indexes the connection by user and client id for the server API (once connected; it leaves the index when it closes). */
  index(): void;
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
  /** Where it comes from. */
  readonly origin: ClientOrigin;
  /** Its connection info (the connect or refresh proxy's `info`): in its publications' `info.conn_info`. */
  connInfo: unknown;
  /** What the connect proxy's answer set as `meta` (sent back with every later proxy request). */
  meta: Record<string, unknown> | undefined;
  /** This connection as the proxies describe it. */
  proxyConnection(): ProxyConnection;
  /** PROXY_REFRESH: asks `proxy.refresh` before `expiresAt` (ms since the epoch), and again after each answer. */
  refreshBefore(expiresAt: number): void;
  /** `sub_refresh_proxy_enabled`: asks `proxy.sub_refresh` about `channel`'s subscription before `expiresAt`. */
  subRefreshBefore(channel: string, expiresAt: number): void;
}
