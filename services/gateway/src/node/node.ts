import {
  CHAT_NAMESPACE, MONITOR_CHANNEL, ProtocolError, centrifugo, dataSizeError, depthWithin, roomPayload, storedSizeError,
  type Action, type Actor, type ChannelName, type Decision, type ChannelPolicy, type ServedChannel, type SubscribeAsk, type SubscriptionOverride,
} from "@rt/protocol";
import type { Server } from "bun";
import { legacyRoomTopic, type ChannelHub, type HistoryHub, type HistoryPage, type Recovery } from "../channels/hub.ts";
import { inboxHistory } from "../channels/inbox-history.ts";
import type { NotificationStore } from "../channels/inbox-store.ts";
import type { Inbox } from "../channels/inbox.ts";
import { MONITOR_TOPIC, type MonitorRelay } from "../channels/monitor.ts";
import type { StreamEpoch } from "../channels/stream-epoch.ts";
import { ClusterUnavailableError } from "../cluster/gather.ts";
import { clientInfoOf } from "../presence/member-book.ts";
import type { Presence } from "../presence/presence.ts";
import type { PushEncoding } from "../protocols/centrifugo/push.ts";
import type { RoomData, SocketOf } from "../protocols/socket-data.ts";
import type { Creator } from "../sessions/create-limit.ts";
import { sessionOf, type SocketIndex } from "../sessions/socket-index.ts";
import { openInbox, placeInHub, placeMonitor } from "./placements.ts";
import type { Opened, Placement, Subscriber, SubscriptionGrant } from "./subscription.ts";

const { ErrorCode } = centrifugo;

/** What the Node serves from. */
export interface NodeDeps {
  /** The one answer to who may do what on which channel. */
  policy: ChannelPolicy;
  /** The hub serving each namespace's channels, by namespace name ("" for `without_namespace`): a stream's for namespaces with history, the core NATS one for the others. */
  hubs: ReadonlyMap<string, ChannelHub>;
  inbox: Inbox;
  inboxStore: NotificationStore;
  inboxEpoch: StreamEpoch;
  monitor: MonitorRelay;
  presence: Presence;
  /** Sockets by user and client id (the server API's unsubscribe and disconnect). */
  sockets: SocketIndex;
  /** Subscribers of a topic here, every transport together (Bun's sockets and the Hub's streams). */
  server: () => Pick<Server<unknown>, "subscriberCount">;
  /** The client protocol's encodings. */
  encodings: readonly PushEncoding[];
  /** Most notifications a `history` of `#<user>` returns (ROOM_HISTORY_SIZE). */
  inboxHistorySize: number;
  /** MAX_MESSAGE_BYTES: the largest publication data, as JSON (what the gateways relay follows from it: limits.ts). */
  maxMessageBytes: number;
  /** Counts (and logs, rate-limited) a refused input under `reason`. */
  reject: (reason: string, fields?: Record<string, unknown>) => void;
}

/** What `history` asks (the client protocol's and the server API's request alike). */
export interface HistoryRequest {
  limit?: number | undefined;
  since?: { offset?: number | undefined; epoch?: string | undefined } | undefined;
  reverse?: boolean | undefined;
}

/** A presence entry as the protocol and the API answer it. */
export type PresenceEntry = centrifugo.ClientInfo;

/**
 * The one gateway API every entry point calls: the client protocol's commands, the `/chat/{room}`
 * endpoint, and the gateway side of the server API. Each call asks the channel policy first (one
 * place decides who may do what on which channel, for every entry point), then does it on the
 * channel's kind: a namespace's hub (a stream's channels with history and recovery, or channels
 * without history over core NATS), the user's inbox (`#<user>`), or the monitor. Refusals are
 * ProtocolErrors with the code every entry point answers.
 */
export class Node {
  readonly policy: ChannelPolicy;

  constructor(private readonly d: NodeDeps) {
    this.policy = d.policy;
  }

  /** What `name` is (no permission asked). */
  resolve(name: string): ChannelName {
    return this.policy.resolve(name);
  }

  /**
   * The channel when `actor` may do `action` on it; otherwise the refusal (a ProtocolError, which
   * may say to disconnect). A decision the namespace hands to its backend is not available here
   * (108): callers that ask the proxy use `decide`.
   */
  check(actor: Actor, action: Action, channel: string | ChannelName): ServedChannel {
    const decision = this.decide(actor, action, channel);
    if (decision.kind === "allow") return decision.channel;
    throw new ProtocolError(ErrorCode.NotAvailable);
  }

  /**
   * What the policy says of `actor` doing `action` on `channel`: allowed, or the namespace's
   * backend decides (the caller asks its proxy, docs/proxy.md); a refusal is thrown as in `check`.
   */
  decide(actor: Actor, action: Action, channel: string | ChannelName): Extract<Decision, { kind: "allow" | "proxy" }> {
    const decision = this.policy.check(actor, action, channel);
    if (decision.kind === "deny") throw new ProtocolError(decision.code, decision.disconnect);
    return decision;
  }

  /** How a subscription of `user` to `channel` behaves (what it asked, a token's override). */
  grant(user: string, channel: ServedChannel, asked: SubscribeAsk, override: SubscriptionOverride | undefined, info: unknown): SubscriptionGrant {
    return { features: this.policy.features(user, channel, asked, override), info };
  }

  /**
   * Places `sub` in `channel` (allowed already): where it starts and what it recovers (`asked`),
   * opened by the caller right after its reply. `rejectUnrecovered`: a recovery that fails is 112.
   */
  place(sub: Subscriber, channel: ServedChannel, grant: SubscriptionGrant, asked: Recovery | undefined, rejectUnrecovered = false): Promise<Placement> {
    switch (channel.kind) {
      case "monitor":
        return Promise.resolve(placeMonitor(this.d.monitor, sub, channel.channel));
      case "namespace":
        return placeInHub(this.hubOf(channel.namespace.name), this.d.presence, sub, channel.channel, grant, asked, rejectUnrecovered);
      case "inbox":
        return Promise.reject(new ProtocolError(ErrorCode.PermissionDenied)); // subscribed by the server at connect (openInbox)
    }
  }

  /** The user's own inbox `#<user>`, subscribed by the server at connect (see openInbox). */
  openInbox(sub: Subscriber, asked: Recovery | undefined, slow: () => void): { opened: Opened; result: Promise<Record<string, unknown>> } {
    return openInbox(this.d.inbox, sub, asked, slow);
  }

  /**
   * Publishes `data` on `channel` for `actor` (`info`: who, in the publication; `creator`: whose
   * channel creation allowance a first publication spends), serialized once: its data as JSON at
   * most MAX_MESSAGE_BYTES (107 naming the limit, as the server API answers; with a subscriber's
   * channel info, the stored form at most what the gateways relay). Refused too: 111 past the
   * creation rate, 100 when a channel without history cannot reach the other gateways (this
   * gateway's NATS link is down). Resolves once the publication is stored (a channel with
   * history) or sent (one without), rejects with 100 when its storing was not confirmed in time (it
   * may still be stored later: the caller cannot count it as either); refusals throw at once.
   */
  publish(actor: Actor, channel: string, data: unknown, info: centrifugo.ClientInfo | undefined, creator: Creator): Promise<void> {
    return this.publishTo(this.check(actor, "publish", channel), data, info, creator);
  }

  /** Publishes on a channel already allowed (`decide`, then its proxy's answer): as `publish`; `skipHistory`: delivered, not stored (the publish proxy's `skip_history`). */
  publishTo(ref: ServedChannel, data: unknown, info: centrifugo.ClientInfo | undefined, creator: Creator, skipHistory = false): Promise<void> {
    const channel = ref.channel;
    if (!depthWithin(data)) throw new ProtocolError(ErrorCode.BadRequest);
    if (ref.kind !== "namespace") throw new ProtocolError(ErrorCode.PermissionDenied);
    const dataJson = JSON.stringify(data);
    const payload = roomPayload(dataJson, info, undefined, ref.namespace.options.delta_publish);
    const tooLarge = dataSizeError(dataJson, this.d.maxMessageBytes) ?? (info?.chan_info === undefined && info?.conn_info === undefined ? undefined : storedSizeError(payload, this.d.maxMessageBytes));
    if (tooLarge !== undefined) {
      this.d.reject("room_message_too_large", { channel });
      throw new ProtocolError(ErrorCode.BadRequest, undefined, tooLarge);
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const stored = (ok: boolean): void => (ok ? resolve() : reject(new ProtocolError(ErrorCode.Internal)));
    switch (this.hubOf(ref.namespace.name).publish(ref.channel, data, payload, creator, skipHistory, stored)) {
      case "create_rate":
        throw new ProtocolError(ErrorCode.TooManyRequests);
      case "unavailable":
        throw new ProtocolError(ErrorCode.Internal);
    }
    return promise;
  }

  /**
   * Kept publications of `channel` (`limit` 0: the position only; -1: all kept), after or (with
   * `reverse`) before `since.offset`. A `since.epoch` other than the channel's current one is 112,
   * on every channel with history, `#<user>` included, for the client protocol and the API alike.
   */
  async history(actor: Actor, channel: string, req: HistoryRequest): Promise<HistoryPage> {
    const ref = this.check(actor, "history", channel);
    const limit = req.limit ?? 0;
    const sinceEpoch = req.since?.epoch;
    const stale = (current: string): boolean => sinceEpoch !== undefined && sinceEpoch !== "" && sinceEpoch !== current;
    if (ref.kind === "inbox") {
      const epoch = this.d.inboxEpoch.current ?? "";
      if (stale(epoch)) throw new ProtocolError(ErrorCode.UnrecoverablePosition);
      return inboxHistory(this.d.inboxStore, ref.userId, epoch, { limit, since: req.since?.offset ?? 0, reverse: req.reverse ?? false, max: this.d.inboxHistorySize });
    }
    if (ref.kind !== "namespace") throw new ProtocolError(ErrorCode.NotAvailable);
    const hub = this.hubOf(ref.namespace.name);
    if (!isHistoryHub(hub)) throw new ProtocolError(ErrorCode.NotAvailable);
    if (stale(await hub.currentEpoch())) throw new ProtocolError(ErrorCode.UnrecoverablePosition);
    return hub.history(ref.channel, { limit, sinceOffset: req.since?.offset, reverse: req.reverse ?? false });
  }

  /** Every client subscribed to `channel` on every gateway, by client id (100 while the other gateways cannot be asked). */
  async presence(actor: Actor, channel: string): Promise<Record<string, PresenceEntry>> {
    const ref = this.check(actor, "presence", channel);
    const members = await askPresence(() => this.d.presence.list(ref.channel));
    // Own properties whatever the client ids are (a `__proto__` from NATS would set the prototype).
    return Object.fromEntries([...members].map(([client, m]) => [client, { ...clientInfoOf(m), client }]));
  }

  /** The number of `channel`'s clients and distinct users on every gateway. */
  async presenceStats(actor: Actor, channel: string): Promise<{ num_clients: number; num_users: number }> {
    const ref = this.check(actor, "presence_stats", channel);
    return askPresence(() => this.d.presence.stats(ref.channel));
  }

  /**
   * The server-side subscriptions of a connection token's `channels` claim (the user's own inbox
   * aside): each one the server may subscribe a connection to, or the token is invalid (3500).
   */
  serverSide(channels: readonly string[] | undefined, user: string): ServedChannel[] {
    const own = user === "" ? undefined : `#${user}`;
    const out: ServedChannel[] = [];
    for (const channel of new Set(channels)) {
      if (channel === own) continue;
      const decision = this.policy.check({ kind: "server" }, "subscribe", channel);
      if (decision.kind !== "allow") throw new ProtocolError(ErrorCode.Unauthorized, centrifugo.DisconnectCode.InvalidToken);
      out.push(decision.channel);
    }
    return out;
  }

  /** A `/chat/{room}` socket opened: a member of `chat:<room>` (its publications as `Room <room>: <text>`, presence with user ""). */
  openRoomSocket(ws: SocketOf<RoomData>): void {
    const channel = this.check({ kind: "room-socket" }, "subscribe", `${CHAT_NAMESPACE}:${ws.data.room}`).channel;
    ws.subscribe(legacyRoomTopic(ws.data.room));
    this.hubOf(CHAT_NAMESPACE).join(channel, "legacy");
    this.d.presence.add(channel, ws.data.info.client, ws.data.info.user, { listed: true, emit: true });
  }

  /**
   * A `/chat/{room}` socket's text frame: the publication `{"text": text}` on `chat:<room>`, or why
   * not: `too_large` when its stored form (the text escaped as JSON, with its envelope) is over what
   * the gateways relay, though the frame was within MAX_MESSAGE_BYTES; `create_rate`.
   */
  roomSocketPublish(ws: SocketOf<RoomData>, text: string): "too_large" | "create_rate" | undefined {
    const channel = `${CHAT_NAMESPACE}:${ws.data.room}`;
    const data = { text };
    // Serialized once: measured here, stored as it is.
    const payload = roomPayload(JSON.stringify(data), ws.data.info, undefined, this.policy.namespaces.get(CHAT_NAMESPACE)?.options.delta_publish);
    if (storedSizeError(payload, this.d.maxMessageBytes) !== undefined) return "too_large";
    return this.hubOf(CHAT_NAMESPACE).publish(channel, data, payload, ws.data.creator) === "create_rate" ? "create_rate" : undefined;
  }

  /** A `/chat/{room}` socket closed. */
  closeRoomSocket(ws: SocketOf<RoomData>): void {
    const channel = `${CHAT_NAMESPACE}:${ws.data.room}`;
    this.d.presence.remove(channel, ws.data.info.client);
    this.hubOf(CHAT_NAMESPACE).leave(channel, "legacy");
  }

  /** The server API's `unsubscribe`, for this gateway's connections of `user` (or the one `client`): how many were subscribed. */
  unsubscribeHere(user: string, client: string | undefined, channel: string): number {
    let done = 0;
    for (const c of this.d.sockets.find(user, client)) if (sessionOf(c)?.serverUnsubscribe(channel)) done++;
    return done;
  }

  /**
   * The server API's `subscribe`, for this gateway's protocol connections of `user` (or the one
   * `client`): how many were subscribed now (one subscribed already, or whose placing failed, is
   * not counted; a failure is counted under `api_subscribe_failed`).
   */
  async subscribeHere(user: string, client: string | undefined, channel: ServedChannel, info: unknown, data: unknown): Promise<number> {
    const targets = this.d.sockets.find(user, client).flatMap((c) => {
      const session = sessionOf(c);
      return session ? [session.serverSubscribe(channel, info, data)] : [];
    });
    let done = 0;
    for (const r of await Promise.allSettled(targets)) {
      if (r.status === "fulfilled") done += r.value ? 1 : 0;
      else this.d.reject("api_subscribe_failed", { channel: channel.channel, err: String(r.reason) });
    }
    return done;
  }

  /** The server API's `refresh`, for this gateway's protocol connections of `user` (or the one `client`): how many. */
  refreshHere(user: string, client: string | undefined, expired: boolean, expiresAt: number | undefined): number {
    let done = 0;
    for (const c of this.d.sockets.find(user, client)) if (sessionOf(c)?.serverRefresh(expired, expiresAt)) done++;
    return done;
  }

  /** The server API's `disconnect`, for this gateway's sockets of `user` (or the one `client`), every endpoint: how many. */
  disconnectHere(user: string, client: string | undefined, d: centrifugo.Disconnect | { code: number; reason: string }): number {
    const targets = this.d.sockets.find(user, client);
    for (const c of targets) {
      const session = sessionOf(c);
      if (session) session.disconnect(d, "api_disconnect");
      else if ("data" in c) c.close(d.code, d.reason);
    }
    return targets.length;
  }

  /** Channels with subscribers here, and how many: every namespace's (`/chat/` sockets included), the monitor (both endpoints), users' inboxes (both endpoints). */
  *channelsHere(): Generator<[string, number]> {
    for (const hub of new Set(this.d.hubs.values())) yield* hub.holdersByChannel();
    const server = this.d.server();
    let monitor = server.subscriberCount(MONITOR_TOPIC);
    for (const enc of this.d.encodings) monitor += server.subscriberCount(enc.topic(MONITOR_CHANNEL));
    yield [MONITOR_CHANNEL, monitor];
    for (const [user, n] of this.d.inbox.userCounts()) yield [`#${user}`, n];
  }

  private hubOf(namespace: string): ChannelHub {
    const hub = this.d.hubs.get(namespace);
    if (!hub) throw new Error(`no hub serves the namespace ${JSON.stringify(namespace)}`);
    return hub;
  }
}

const isHistoryHub = (hub: ChannelHub): hub is HistoryHub => typeof (hub as Partial<HistoryHub>).history === "function";

/** Presence that cannot be asked (NATS away) is a temporary error. */
async function askPresence<T>(ask: () => Promise<T>): Promise<T> {
  try {
    return await ask();
  } catch (err) {
    throw err instanceof ClusterUnavailableError ? new ProtocolError(ErrorCode.Internal) : err;
  }
}
