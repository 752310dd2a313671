import { randomUUID } from "node:crypto";
import { centrifugo, dataSizeError, depthWithin, roomPayload, RPC_METHOD_PATTERN, rpcSubject, type centrifugo as C } from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import type { Authenticator, Principal } from "../../auth.ts";
import type { Broker } from "../../broker/broker.ts";
import { inboxSub, type Inbox, type InboxPosition, type InboxSub } from "../../channels/inbox.ts";
import { inboxHistory } from "../../channels/inbox-history.ts";
import type { NotificationStore } from "../../channels/inbox-store.ts";
import type { MonitorRelay } from "../../channels/monitor.ts";
import { parseChannel, type ChannelRef } from "@rt/protocol";
import { MONITOR_CHANNEL } from "@rt/protocol";
import type { RoomHub, RoomPosition } from "../../channels/room.ts";
import { ClusterUnavailableError } from "../../cluster/gather.ts";
import type { Presence } from "../../presence/presence.ts";
import type { GatewayCounters } from "../../metrics.ts";
import type { Rejections } from "../../rejections.ts";
import type { Creator } from "../../sessions/create-limit.ts";
import { newBucket, type TokenBucket } from "../../sessions/rate-limit.ts";
import type { ClientData, SocketOf } from "../socket-data.ts";
import { SmallMap } from "../../sessions/small-map.ts";
import type { SocketIndex } from "../../sessions/socket-index.ts";
import type { Codec } from "./codec.ts";

const { ErrorCode, TEMPORARY_ERRORS, DisconnectCode, METHODS, errorMessage, isMethod } = centrifugo;
type Ws = SocketOf<ClientData>;
type Method = C.Method;

/** What every client session needs from the gateway. */
export interface ClientDeps {
  auth: Authenticator;
  rooms: RoomHub;
  inbox: Inbox;
  inboxStore: NotificationStore;
  monitor: MonitorRelay;
  presence: Presence;
  broker: Broker;
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
  historySize: number;
  version: string;
  /** MAX_MESSAGE_BYTES: the largest publication `data` (as JSON). */
  maxMessageBytes: number;
}

/** A command could not be served: answered with an error reply (`code`, and the code's message unless given) or, with `disconnect`, by closing. */
class CommandError extends Error {
  constructor(readonly code: number, readonly disconnect?: C.Disconnect, message?: string) {
    super(message ?? errorMessage(code));
  }
}

/** One channel this connection is subscribed to. */
type Sub =
  /** `joinLeave`: the topic of its join/leave pushes, when asked for. */
  | { kind: "room"; room: string; topic: string; joinLeave: string | undefined }
  | { kind: "monitor" }
  | { kind: "inbox"; sub: InboxSub }
  /** A subscribe in progress: its reply is not out yet. */
  | { kind: "pending"; cancelled: boolean };

/** A subscribe or connect result for a room at `pos`. */
function roomResult(pos: RoomPosition, recovering: boolean): Record<string, unknown> {
  const result: Record<string, unknown> = { recoverable: true, epoch: pos.epoch, offset: pos.offset, positioned: true };
  if (recovering) Object.assign(result, { recovered: pos.recovered, was_recovering: true, publications: pos.publications });
  return result;
}

/** The recovery a client asks for (subscribe, or a connect's `subs`): an offset in an epoch. */
function recoveryOf(asked: { recover?: boolean; offset?: number; epoch?: string } | undefined): { offset: number; epoch: string } | undefined {
  return asked?.recover && asked.epoch ? { offset: asked.offset ?? 0, epoch: asked.epoch } : undefined;
}

/** The unsubscribe push of the server API's `unsubscribe` (below 2500: the SDKs do not subscribe again). */
const SERVER_UNSUBSCRIBE = { code: 2000, reason: "server unsubscribe" };

/** How long connect waits for the user's inbox to be placed (its position goes into the reply). */
const INBOX_POSITION_TIMEOUT_MS = 5000;
/** RPC requests wait this long for a backend's answer (docs/websocket.md: 108 after 5 s). */
const RPC_TIMEOUT_MS = 5000;
/** Commands refused for the rate in a row before the connection is closed with 3013. */
const MAX_REFUSED_IN_A_ROW = 50;
/** Largest RPC answer relayed to the client. */
const MAX_RPC_ANSWER_BYTES = 1024 * 1024;
/** The command chain of a connection with nothing queued (shared: an idle connection holds no promise of its own). */
const IDLE: Promise<void> = Promise.resolve();

/**
 * One `/connection/websocket` session: the Centrifugo client protocol v2. Commands run in the order
 * they arrive (a connect that checks its JWT holds the subscribes behind it); a command before
 * `connect` or an unreadable frame closes with 3501. Channels: `chat:<room>` (RoomHub, history and
 * recovery), `#<user>` (the user's inbox, a server-side subscription made at connect) and
 * `system:monitor`. Publications reach the connection through Bun topics, serialized once per
 * channel; the inbox writes per socket, as on `/notifications`.
 */
export class Client {
  readonly id = randomUUID();
  user: string | undefined;
  private state: "new" | "connecting" | "connected" | "closed" = "new";
  private readonly subs = new SmallMap<string, Sub>();
  private chain: Promise<void> = IDLE;
  private readonly bucket: TokenBucket | undefined;
  private refusedInARow = 0;
  /** A connect was accepted into the queue (it may still be checking its token). */
  private connectQueued = false;
  private lastPingAt = 0;
  /** When the oldest unanswered ping was sent (undefined: none is). */
  private pingSentAt: number | undefined;

  /** Its socket, from open on (the session is made at upgrade, before the socket exists). */
  private ws!: Ws;
  /** Whose allowance the rooms it creates spend (made at its first publish, once the user is known). */
  private createdBy: Creator | undefined;

  /** `address`: the client's (the peer's); an anonymous client's room creations spend its allowance. */
  constructor(private readonly d: ClientDeps, private readonly address = "") {
    this.bucket = newBucket(d.config.rateLimitPerSec, d.config.rateLimitBurst);
  }

  /** The socket is open. */
  attach(ws: Ws): void {
    this.ws = ws;
  }

  /** A frame from the client: its commands, in order. */
  onFrame(message: string | Buffer): void {
    if (this.state === "closed") return;
    const commands = this.d.codec.decode(message);
    if (!commands) return this.disconnect(DisconnectCode.BadRequest, "unreadable_frame");
    for (const raw of commands) {
      const cmd = raw as Record<string, unknown>;
      const keys = Object.keys(cmd);
      if (keys.length === 0) {
        // `{}`: a pong (it takes a token too: a flood of them is a flood of commands)
        if (this.admit()) this.pingSentAt = undefined;
        else if (this.refusedInARow > MAX_REFUSED_IN_A_ROW) return this.disconnect(DisconnectCode.TooManyRequests, "rate_limit");
        continue;
      }
      const id = cmd.id;
      if (id !== undefined && !(typeof id === "number" && Number.isSafeInteger(id) && id >= 0)) return this.disconnect(DisconnectCode.BadRequest, "bad_command_id");
      const name = keys.find((k) => k !== "id");
      if (name === undefined || keys.length > 2) return this.disconnect(DisconnectCode.BadRequest, "bad_command");
      // An own name of the method table only: `toString`, `__proto__` and the like are unknown methods too.
      if (!isMethod(name)) {
        if (id === undefined) return this.disconnect(DisconnectCode.BadRequest, "unknown_method");
        if (!this.admit()) {
          if (this.refusedInARow > MAX_REFUSED_IN_A_ROW) return this.disconnect(DisconnectCode.TooManyRequests, "rate_limit");
          this.replyError(id, ErrorCode.TooManyRequests);
        } else this.replyError(id, ErrorCode.MethodNotFound);
        continue;
      }
      const method: Method = name;
      // Commands queued behind a connect (the SDK sends its subscribes in the same frame) wait for it.
      if (method === "connect") this.connectQueued = true;
      else if (!this.connectQueued) return this.disconnect(DisconnectCode.BadRequest, "command_before_connect");
      if (method !== "connect" && !this.admit()) {
        if (this.refusedInARow > MAX_REFUSED_IN_A_ROW) return this.disconnect(DisconnectCode.TooManyRequests, "rate_limit");
        if (id !== undefined) this.replyError(id, ErrorCode.TooManyRequests);
        continue;
      }
      const checked = METHODS[method].validate(cmd[method] ?? {});
      if (!checked.ok) {
        this.d.log.debug({ method, errors: checked.errors }, "invalid command");
        if (method === "connect" || id === undefined) return this.disconnect(DisconnectCode.BadRequest, "bad_request");
        this.replyError(id, ErrorCode.BadRequest);
        continue;
      }
      const body = checked.value;
      // Nothing queued behind it when it settles: the connection holds no promise while idle.
      const settled = () => {
        if (this.chain === next) this.chain = IDLE;
      };
      const next: Promise<void> = this.chain
        .then(() => (this.state === "closed" ? undefined : this.timed(method, id as number | undefined, body)))
        .then(settled, (err: unknown) => {
          try {
            this.failed(id as number | undefined, err);
          } finally {
            settled();
          }
        });
      this.chain = next;
    }
  }

  /** Takes a token for one command; false when over the rate (counted: a long run of refusals closes with 3013). */
  private admit(): boolean {
    if (!this.bucket || this.bucket.take()) {
      this.refusedInARow = 0;
      return true;
    }
    this.refusedInARow++;
    return false;
  }

  /** The sweeper's look: ping, pong deadline, token expiry, slow output (3008 is the adapter's). */
  tick(now: number): void {
    if (this.state !== "connected") return;
    if (this.pingSentAt !== undefined && now - this.pingSentAt > this.d.config.pongTimeoutMs) return this.disconnect(DisconnectCode.NoPong);
    if (now - this.lastPingAt >= this.d.config.pingIntervalSec * 1000) {
      this.lastPingAt = now;
      this.pingSentAt ??= now;
      this.ws.send(this.d.codec.encode([{}]));
    }
  }

  /** The socket closed: every subscription ends. */
  closed(): void {
    if (this.state === "closed") return;
    const wasConnected = this.state === "connected" || this.state === "connecting";
    this.state = "closed";
    for (const [, s] of this.subs) this.release(s);
    this.subs.clear();
    if (wasConnected && this.user !== undefined) {
      const n = (this.d.perUser.get(this.user) ?? 1) - 1;
      if (n <= 0) this.d.perUser.delete(this.user);
      else this.d.perUser.set(this.user, n);
    }
  }

  /** Closes the connection with a protocol disconnect code. */
  disconnect(d: { code: number; reason: string }, rejection?: string): void {
    if (rejection) this.d.rejections.count(`centrifugo_${rejection}`, this.d.log);
    if (this.state === "closed") return;
    this.ws.close(d.code, d.reason);
    this.closed();
  }

  /**
   * The server API's unsubscribe: ends the subscription to `channel` (a server-side one too) and
   * tells the client with an unsubscribe push (code 2000: the SDKs do not resubscribe). False when
   * the connection holds no such subscription.
   */
  serverUnsubscribe(channel: string): boolean {
    const s = this.subs.get(channel);
    if (this.state !== "connected" || !s || s.kind === "pending") return false;
    this.subs.delete(channel);
    this.release(s);
    this.ws.send(this.d.codec.encode([{ push: { channel, unsubscribe: SERVER_UNSUBSCRIBE } }]));
    return true;
  }

  /** Every inbox subscription of this connection (for Bun's drain). */
  *inboxSubs(): Generator<InboxSub> {
    for (const s of this.subs.values()) if (s.kind === "inbox") yield s.sub;
  }

  /** Runs one command and records how long it took (failures too). */
  private async timed(method: Method, id: number | undefined, body: unknown): Promise<void> {
    const start = performance.now();
    try {
      await this.run(method, id, body);
    } finally {
      this.d.counters.command(method, (performance.now() - start) / 1000);
    }
  }

  private async run(method: Method, id: number | undefined, body: unknown): Promise<void> {
    // Queued behind a connect that did not succeed (an expired token): not served.
    if (method !== "connect" && this.state !== "connected") throw new CommandError(ErrorCode.TokenExpired);
    switch (method) {
      case "connect":
        return this.connect(id, body as C.ConnectRequest);
      case "subscribe":
        return this.subscribe(id, body as C.SubscribeRequest);
      case "unsubscribe":
        return this.unsubscribe(id, body as C.ChannelRequest);
      case "publish":
        return this.publish(id, body as C.PublishRequest);
      case "history":
        return this.reply(id, method, await this.history(body as C.HistoryRequest));
      case "presence":
        return this.reply(id, method, { presence: await this.presence(body as C.ChannelRequest) });
      case "presence_stats":
        return this.reply(id, method, await this.presenceStats(body as C.ChannelRequest));
      case "rpc":
        return this.reply(id, method, await this.rpc(body as C.RpcRequest));
      case "refresh":
        return this.refresh(id, body as C.RefreshRequest);
      case "sub_refresh":
        return this.subRefresh(id, body as C.SubRefreshRequest);
      case "send":
        return; // asynchronous messages to the server: nothing listens
    }
  }

  private async connect(id: number | undefined, req: C.ConnectRequest): Promise<void> {
    if (this.state !== "new") throw new CommandError(ErrorCode.BadRequest, DisconnectCode.BadRequest);
    this.state = "connecting";
    let principal: Principal;
    if (req.token === undefined || req.token === "") {
      if (!this.d.config.allowAnonymous) throw new CommandError(ErrorCode.Unauthorized, DisconnectCode.InvalidToken);
      principal = { userId: "", expiresAt: undefined };
    } else {
      const check = await this.d.auth.check(req.token);
      if (!check.ok) {
        if (!check.expired) throw new CommandError(ErrorCode.Unauthorized, DisconnectCode.InvalidToken);
        this.state = "new"; // the SDK gets a new token and connects again
        this.connectQueued = false;
        throw new CommandError(ErrorCode.TokenExpired);
      }
      principal = check.principal;
    }
    if (this.state !== "connecting") return;
    const serverSide = this.serverSideChannels(principal);
    const n = (this.d.perUser.get(principal.userId) ?? 0) + 1;
    if (principal.userId !== "" && n > this.d.config.maxConnectionsPerUser) throw new CommandError(ErrorCode.LimitExceeded, DisconnectCode.ConnectionLimit);
    this.d.perUser.set(principal.userId, n);
    this.user = principal.userId;
    this.ws.data.expiresAt = principal.expiresAt;

    const result: Record<string, unknown> = { client: this.id, version: this.d.config.version, ping: this.d.config.pingIntervalSec, pong: true };
    if (principal.expiresAt !== undefined) Object.assign(result, { expires: true, ttl: Math.max(1, Math.floor((principal.expiresAt - Date.now()) / 1000)) });
    const subs: Record<string, unknown> = {};
    // The token's rooms first (their positions are brought up to date at the reply), then the inbox,
    // which may write as soon as it is placed: nothing awaits between it and the reply.
    const rooms = await this.placeRooms(serverSide.rooms, req.subs);
    try {
      if (principal.userId !== "") {
        const channel = `#${principal.userId}`;
        subs[channel] = await this.openInbox(principal.userId, req.subs?.[channel]);
      }
    } catch (err) {
      this.leaveRooms(rooms);
      throw err;
    }
    if (this.state !== "connecting") return this.leaveRooms(rooms);
    const placed = rooms.map((r) => ({ ...r, pos: this.d.rooms.catchUp(r.room, r.pos, r.recovering) }));
    for (const r of placed) subs[r.channel] = roomResult(r.pos, r.recovering);
    if (serverSide.monitor) subs[MONITOR_CHANNEL] = {};
    if (Object.keys(subs).length > 0) result.subs = subs;
    this.state = "connected";
    this.lastPingAt = Date.now();
    this.d.sockets.add(this.ws, this.user, this.id); // removed by the server at close
    this.reply(id, "connect", result);
    // Synchronously after the reply: every later publication reaches the socket through the topics.
    for (const r of placed) this.openRoom(r.channel, r.room, false);
    if (serverSide.monitor) this.openMonitor();
  }

  /**
   * The server-side channels of the token's `channels` claim: rooms and `system:monitor` (the
   * user's own `#<user>` is always one). Any other channel makes the token invalid (3500); more
   * channels than a connection may have close it with 3505.
   */
  private serverSideChannels(principal: Principal): { rooms: Array<{ channel: string; room: string }>; monitor: boolean } {
    const own = principal.userId === "" ? undefined : `#${principal.userId}`;
    const rooms: Array<{ channel: string; room: string }> = [];
    let monitor = false;
    for (const channel of new Set(principal.channels)) {
      if (channel === own) continue;
      const ref = parseChannel(channel);
      if (ref.kind === "room") rooms.push({ channel, room: ref.room });
      else if (ref.kind === "monitor") monitor = true;
      else throw new CommandError(ErrorCode.Unauthorized, DisconnectCode.InvalidToken);
    }
    if (rooms.length + (monitor ? 1 : 0) + (own ? 1 : 0) > this.d.config.maxChannels) throw new CommandError(ErrorCode.LimitExceeded, DisconnectCode.ChannelLimit);
    return { rooms, monitor };
  }

  /** Joins the token's rooms and finds where each starts (recovering where the connect asked); left again when the connect does not go through. */
  private async placeRooms(rooms: Array<{ channel: string; room: string }>, asked: C.ConnectRequest["subs"]): Promise<Array<{ channel: string; room: string; pos: RoomPosition; recovering: boolean }>> {
    if (rooms.length === 0) return [];
    for (const r of rooms) this.d.rooms.join(r.room, this.d.codec.pushes.name);
    try {
      const out = await Promise.all(
        rooms.map(async (r) => {
          const recover = recoveryOf(asked?.[r.channel]);
          return { ...r, pos: await this.d.rooms.position(r.room, recover), recovering: recover !== undefined };
        }),
      );
      if (this.state === "connecting") return out;
      this.leaveRooms(rooms); // closed meanwhile
      return [];
    } catch (err) {
      this.leaveRooms(rooms);
      throw err instanceof CommandError ? err : new CommandError(ErrorCode.Internal);
    }
  }

  private leaveRooms(rooms: Array<{ room: string }>): void {
    for (const r of rooms) this.d.rooms.leave(r.room, this.d.codec.pushes.name);
  }

  /** The server-side subscription to the user's inbox: placed (recovered when asked and possible) before the connect reply. */
  private async openInbox(userId: string, asked: { recover?: boolean; offset?: number; epoch?: string } | undefined): Promise<Record<string, unknown>> {
    if (!this.d.inbox.available) {
      // No inbox stream (no notifier yet): connect all the same; the subscription places itself once
      // the stream exists and sends from then on. With no epoch, a later recovery is reported as failed.
      const sub = inboxSub(this.ws, userId, this.d.codec.pushes, { kind: "live" }, () => this.disconnect(DisconnectCode.Slow));
      this.subs.set(`#${userId}`, { kind: "inbox", sub });
      this.d.inbox.open(sub);
      return { recoverable: true, epoch: "", offset: 0, ...(asked?.recover ? { recovered: false, was_recovering: true } : {}) };
    }
    const positioned = Promise.withResolvers<InboxPosition>();
    const start = asked?.recover && asked.epoch ? { kind: "recover" as const, offset: asked.offset ?? 0, epoch: asked.epoch } : { kind: "live" as const };
    const sub = inboxSub(this.ws, userId, this.d.codec.pushes, start, () => this.disconnect(DisconnectCode.Slow), (p) => {
      // Synchronously before anything is written to the socket: the reply goes first.
      this.inboxPlaced = p;
      positioned.resolve(p);
    });
    this.subs.set(`#${userId}`, { kind: "inbox", sub });
    this.d.inbox.open(sub);
    const timer = setTimeout(() => positioned.reject(new CommandError(ErrorCode.Internal)), INBOX_POSITION_TIMEOUT_MS);
    try {
      await positioned.promise;
    } finally {
      clearTimeout(timer);
    }
    const p = this.inboxPlaced!;
    return { recoverable: true, epoch: p.epoch, offset: p.seq, positioned: true, ...(asked?.recover ? { recovered: p.recovered, was_recovering: true } : {}) };
  }
  private inboxPlaced: InboxPosition | undefined;

  private async subscribe(id: number | undefined, req: C.SubscribeRequest): Promise<void> {
    const ref = this.channel(req.channel);
    if (this.subs.has(req.channel)) throw new CommandError(ErrorCode.AlreadySubscribed);
    if (ref.kind === "inbox") throw new CommandError(ErrorCode.PermissionDenied); // the own inbox is subscribed at connect
    if (this.subs.size >= this.d.config.maxChannels) throw new CommandError(ErrorCode.LimitExceeded);
    if (ref.kind === "monitor") {
      this.reply(id, "subscribe", {});
      this.openMonitor();
      return;
    }
    if (ref.kind !== "room") throw new CommandError(ErrorCode.UnknownChannel);
    const pending: Sub = { kind: "pending", cancelled: false };
    this.subs.set(req.channel, pending);
    this.d.rooms.join(ref.room, this.d.codec.pushes.name);
    let pos;
    try {
      pos = await this.d.rooms.position(ref.room, recoveryOf(req));
    } catch (err) {
      this.d.rooms.leave(ref.room, this.d.codec.pushes.name);
      if (this.subs.get(req.channel) === pending) this.subs.delete(req.channel);
      throw err instanceof CommandError ? err : new CommandError(ErrorCode.Internal);
    }
    if (pending.cancelled || this.state === "closed") {
      this.d.rooms.leave(ref.room, this.d.codec.pushes.name);
      return;
    }
    // From here to the topic subscribe, synchronously: nothing of the room can slip between.
    this.reply(id, "subscribe", roomResult(pos, req.recover === true));
    this.openRoom(req.channel, ref.room, req.join_leave === true);
  }

  /** Subscribes the socket to a room's topic (and its joins and leaves when asked) and adds the client to its presence; the room is joined already. */
  private openRoom(channel: string, room: string, joinLeave: boolean): void {
    const pushes = this.d.codec.pushes;
    const topic = this.d.rooms.topic(room, pushes);
    const jl = joinLeave ? pushes.joinLeaveTopic(channel) : undefined;
    this.subs.set(channel, { kind: "room", room, topic, joinLeave: jl });
    this.d.rooms.flush(room); // pushes held this turn are covered by the reply: they go to the others now, not to this socket
    this.ws.subscribe(topic);
    if (jl) {
      this.ws.subscribe(jl);
      this.d.presence.watch(room, pushes);
    }
    this.d.presence.add(room, this.id, this.user!); // its own join too, when it asked for joins
  }

  /** Subscribes to `system:monitor` (after the reply that says so): the newest samples, then the live ones. */
  private openMonitor(): void {
    this.subs.set(MONITOR_CHANNEL, { kind: "monitor" });
    this.d.monitor.subscribeProtocol(this.ws, this.d.codec.pushes);
  }

  private unsubscribe(id: number | undefined, req: C.ChannelRequest): void {
    const s = this.subs.get(req.channel);
    if (s && s.kind !== "inbox") {
      this.subs.delete(req.channel);
      this.release(s);
    }
    this.reply(id, "unsubscribe", {});
  }

  private publish(id: number | undefined, req: C.PublishRequest): void {
    const ref = this.channel(req.channel);
    if (ref.kind === "unknown") throw new CommandError(ErrorCode.UnknownChannel);
    if (ref.kind !== "room") throw new CommandError(ErrorCode.PermissionDenied);
    if (this.subs.get(req.channel)?.kind !== "room") throw new CommandError(ErrorCode.PermissionDenied); // subscribers publish
    if (!depthWithin(req.data)) throw new CommandError(ErrorCode.BadRequest);
    // Serialized once: checked against MAX_MESSAGE_BYTES here (107 naming the limit; what it lets
    // through the gateways relay), stored as it is by the room.
    const dataJson = JSON.stringify(req.data);
    const tooLarge = dataSizeError(dataJson, this.d.config.maxMessageBytes);
    if (tooLarge !== undefined) {
      this.d.rejections.count("room_message_too_large", this.d.log, { room: ref.room });
      throw new CommandError(ErrorCode.BadRequest, undefined, tooLarge);
    }
    // A room created past the allowance: 111 (temporary), nothing published.
    if (this.d.rooms.publish(ref.room, req.data, roomPayload(dataJson, { user: this.user!, client: this.id }), this.creator()) === "create_rate") {
      throw new CommandError(ErrorCode.TooManyRequests);
    }
    this.reply(id, "publish", {});
  }

  /** Whose allowance a room this client creates spends: its user's, or when anonymous its address's. */
  private creator(): Creator {
    return (this.createdBy ??= this.user ? { user: this.user } : { address: this.address });
  }

  private async history(req: C.HistoryRequest): Promise<object> {
    const ref = this.channel(req.channel);
    const limit = req.limit ?? 0;
    if (ref.kind === "room") {
      if (req.since?.epoch !== undefined && req.since.epoch !== "" && req.since.epoch !== (await this.d.rooms.currentEpoch())) throw new CommandError(ErrorCode.UnrecoverablePosition);
      return this.d.rooms.history(ref.room, { limit, sinceOffset: req.since?.offset, reverse: req.reverse ?? false });
    }
    if (ref.kind === "inbox") {
      if (ref.userId !== this.user) throw new CommandError(ErrorCode.PermissionDenied);
      return this.inboxHistory(ref.userId, limit, req.since?.offset ?? 0, req.reverse ?? false);
    }
    if (ref.kind === "monitor") throw new CommandError(ErrorCode.NotAvailable);
    throw new CommandError(ErrorCode.UnknownChannel);
  }

  /** The user's kept notifications as publications (`offset` = seq, `data` = the notification), in the epoch of this connection's inbox. */
  private inboxHistory(userId: string, limit: number, since: number, reverse: boolean): Promise<object> {
    const sub = this.subs.get(`#${userId}`);
    const epoch = (sub?.kind === "inbox" ? sub.sub.cursor.epoch : undefined) ?? "";
    return inboxHistory(this.d.inboxStore, userId, epoch, { limit, since, reverse, max: this.d.config.historySize });
  }

  /** The room of a presence command: presence is kept for rooms only (108 elsewhere), and asked by their subscribers (103). */
  private presenceRoom(channel: string): string {
    const ref = this.channel(channel);
    if (ref.kind === "unknown") throw new CommandError(ErrorCode.UnknownChannel);
    if (ref.kind !== "room") throw new CommandError(ErrorCode.NotAvailable);
    if (this.subs.get(channel)?.kind !== "room") throw new CommandError(ErrorCode.PermissionDenied);
    return ref.room;
  }

  private async presence(req: C.ChannelRequest): Promise<Record<string, C.ClientInfo>> {
    const members = await this.askPresence(() => this.d.presence.list(this.presenceRoom(req.channel)));
    // Own properties whatever the client ids are (a `__proto__` from NATS would set the prototype).
    return Object.fromEntries([...members].map(([client, user]) => [client, { client, user }]));
  }

  private presenceStats(req: C.ChannelRequest): Promise<{ num_clients: number; num_users: number }> {
    return this.askPresence(() => this.d.presence.stats(this.presenceRoom(req.channel)));
  }

  /** Presence that cannot be asked (NATS away) is a temporary error. */
  private async askPresence<T>(ask: () => Promise<T>): Promise<T> {
    try {
      return await ask();
    } catch (err) {
      throw err instanceof ClusterUnavailableError ? new CommandError(ErrorCode.Internal) : err;
    }
  }

  private async rpc(req: C.RpcRequest): Promise<object> {
    const method = req.method ?? "";
    if (!RPC_METHOD_PATTERN.test(method)) throw new CommandError(ErrorCode.BadRequest);
    if (!depthWithin(req.data)) throw new CommandError(ErrorCode.BadRequest);
    let answer;
    try {
      answer = await this.d.broker.request(rpcSubject(method), JSON.stringify({ user: this.user, client: this.id, data: req.data ?? null }), RPC_TIMEOUT_MS);
    } catch {
      throw new CommandError(ErrorCode.NotAvailable); // nobody answered in time (or no responders)
    }
    if (answer.headers?.hasError) throw new CommandError(ErrorCode.NotAvailable);
    if (answer.data.byteLength > MAX_RPC_ANSWER_BYTES) throw new CommandError(ErrorCode.Internal);
    let data: unknown;
    try {
      data = answer.data.byteLength === 0 ? null : JSON.parse(new TextDecoder().decode(answer.data));
    } catch {
      throw new CommandError(ErrorCode.Internal); // the backend answered something that is not JSON
    }
    if (!depthWithin(data)) throw new CommandError(ErrorCode.Internal);
    return { data };
  }

  private async refresh(id: number | undefined, req: C.RefreshRequest): Promise<void> {
    const check = await this.d.auth.check(req.token);
    if (!check.ok) {
      if (check.expired) throw new CommandError(ErrorCode.TokenExpired);
      throw new CommandError(ErrorCode.Unauthorized, DisconnectCode.InvalidToken);
    }
    if (check.principal.userId !== this.user) throw new CommandError(ErrorCode.Unauthorized, DisconnectCode.InvalidToken);
    this.ws.data.expiresAt = check.principal.expiresAt;
    const exp = check.principal.expiresAt;
    this.reply(id, "refresh", { client: this.id, version: this.d.config.version, ...(exp === undefined ? {} : { expires: true, ttl: Math.max(1, Math.floor((exp - Date.now()) / 1000)) }) });
  }

  /** No channel here needs a subscription token; a refresh with a valid token of this user is accepted. */
  private async subRefresh(id: number | undefined, req: C.SubRefreshRequest): Promise<void> {
    if (!this.subs.has(req.channel)) throw new CommandError(ErrorCode.BadRequest);
    const check = await this.d.auth.check(req.token);
    if (!check.ok) throw new CommandError(check.expired ? ErrorCode.TokenExpired : ErrorCode.PermissionDenied);
    if (check.principal.userId !== this.user) throw new CommandError(ErrorCode.PermissionDenied);
    this.reply(id, "sub_refresh", {});
  }

  /** A channel name, or error 107 when it cannot be valid. */
  private channel(name: string): ChannelRef {
    const ref = parseChannel(name);
    if (ref.kind === "invalid") throw new CommandError(ErrorCode.BadRequest);
    return ref;
  }

  private release(s: Sub): void {
    switch (s.kind) {
      case "room":
        this.ws.unsubscribe(s.topic);
        if (s.joinLeave) {
          this.ws.unsubscribe(s.joinLeave);
          this.d.presence.unwatch(s.room, this.d.codec.pushes);
        }
        this.d.presence.remove(s.room, this.id);
        this.d.rooms.leave(s.room, this.d.codec.pushes.name);
        return;
      case "monitor":
        this.d.monitor.unsubscribeProtocol(this.ws, this.d.codec.pushes);
        return;
      case "inbox":
        this.d.inbox.close(s.sub);
        return;
      case "pending":
        s.cancelled = true;
        return;
    }
  }

  private reply(id: number | undefined, method: string, result: object): void {
    if (id === undefined || this.state === "closed") return;
    this.ws.send(this.d.codec.encode([{ id, [method]: result }]));
  }

  private replyError(id: number, code: number, message = errorMessage(code)): void {
    if (this.state === "closed") return;
    const error: Record<string, unknown> = { code, message };
    if (TEMPORARY_ERRORS.has(code)) error.temporary = true;
    this.ws.send(this.d.codec.encode([{ id, error }]));
  }

  private failed(id: number | undefined, err: unknown): void {
    if (this.state === "closed") return;
    if (err instanceof CommandError) {
      if (err.disconnect) return this.disconnect(err.disconnect, `error_${err.code}`);
      if (id !== undefined) this.replyError(id, err.code, err.message);
      return;
    }
    // A store or NATS that did not answer: the command fails (temporary), the session stays.
    this.d.rejections.count("centrifugo_command_failed", this.d.log, { err: String(err) });
    if (id !== undefined) this.replyError(id, ErrorCode.Internal);
  }
}
