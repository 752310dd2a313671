import type { Msg } from "@nats-io/transport-node";
import type { Server } from "bun";
import {
  API_METHODS, MONITOR_CHANNEL, GATEWAY_API_METHODS, GATEWAY_CONTROL_OPS, GATEWAY_API_PREFIX, GATEWAY_API_QUEUE, GATEWAY_API_WILDCARD, GATEWAY_CONTROL_PREFIX, GATEWAY_CONTROL_WILDCARD, MAX_API_REQUEST_BYTES,
  centrifugo, controlAnswer, methodFromSubject, methodSubject,
  type ApiAnswer, type ChannelsRequest, type ControlAnswer, type DisconnectRequest, type HistoryRequest, type InfoNode, type UnsubscribeRequest,
} from "@rt/protocol";
import type { Logger, ReplyGuard } from "@rt/runtime";
import type { Broker } from "../broker/broker.ts";
import { inboxHistory } from "../channels/inbox-history.ts";
import type { NotificationStore } from "../channels/inbox-store.ts";
import type { Inbox } from "../channels/inbox.ts";
import { MONITOR_TOPIC } from "../channels/monitor.ts";
import { parseChannel, type ChannelRef } from "@rt/protocol";
import type { RoomHub } from "../channels/room.ts";
import type { StreamEpoch } from "../channels/stream-epoch.ts";
import { ClusterUnavailableError, answerInParts, askEveryGateway, readJson } from "../cluster/gather.ts";
import type { GatewayRegistry } from "../cluster/gateways.ts";
import { split, textBytes } from "../cluster/parts.ts";
import type { Presence } from "../presence/presence.ts";
import type { PushEncoding } from "../protocols/centrifugo/push.ts";
import type { Rejections } from "../rejections.ts";
import type { SocketIndex } from "../sessions/socket-index.ts";
import { globMatcher } from "./glob.ts";

const { ErrorCode, DisconnectCode, errorMessage } = centrifugo;

/** What a gateway answers for the server API. */
export interface GatewayApiDeps {
  server: () => Server<unknown>;
  broker: Broker;
  registry: GatewayRegistry;
  rooms: RoomHub;
  presence: Presence;
  inbox: Inbox;
  inboxStore: NotificationStore;
  inboxEpoch: StreamEpoch;
  sockets: SocketIndex;
  encodings: readonly PushEncoding[];
  rejections: Rejections;
  /** Which reply subjects a request may name (the notifier's for `gateway.api`, gateways' for `gateway.control`). */
  replies: ReplyGuard;
  log: Logger;
  /** Open sockets here. */
  socketCount: () => number;
  info: { name: string; version: string; historySize: number };
}

/** A call the API refuses: answered `{"error": {code, message}}`. */
export class ApiFailure extends Error {
  constructor(readonly code: number) {
    super(errorMessage(code));
  }
}

/** An error answer. */
export const apiError = (code: number): ApiAnswer => ({ error: { code, message: errorMessage(code) } });

/** The methods a notifier hands to a gateway (`gateway.api.<method>`, one gateway of the queue group answers). */
const SERVED = GATEWAY_API_METHODS;
type Served = (typeof SERVED)[number];
/** What every gateway answers for itself (`gateway.control.<op>`). */
const CONTROLS = GATEWAY_CONTROL_OPS;
type Control = (typeof CONTROLS)[number];

const isServed = (m: string | undefined): m is Served => (SERVED as readonly (string | undefined)[]).includes(m);
const isControl = (m: string | undefined): m is Control => (CONTROLS as readonly (string | undefined)[]).includes(m);

/** A channel-and-count pair's bytes in an answer. */
const channelBytes = (c: readonly [string, number]): number => textBytes(c[0]) + 12;

/**
 * The server API's part that needs sockets and their state, answered by gateways over NATS.
 * `gateway.api.<method>` (queue group: one gateway answers a notifier): history, presence and
 * presence_stats from this gateway's view (presence asks the others itself); unsubscribe,
 * disconnect, channels and info for every gateway: this one's own part, and the others' asked on
 * `gateway.control.<op>`, where every gateway answers for its own sockets (within GATHER_MS,
 * gateways known by heartbeat).
 */
export class GatewayApi {
  private readonly startedAt = Date.now();
  constructor(private readonly d: GatewayApiDeps) {}

  start(): void {
    this.d.broker.serve(GATEWAY_API_WILDCARD, GATEWAY_API_QUEUE, (msg) => void this.onApi(msg));
    this.d.broker.acquire(GATEWAY_CONTROL_WILDCARD, (msg) => this.onControl(msg));
  }

  private async onApi(msg: Msg): Promise<void> {
    if (!this.d.replies.allows("gateway.api", msg.subject, msg.reply)) return;
    const method = methodFromSubject(GATEWAY_API_PREFIX, msg.subject);
    let answer: ApiAnswer;
    try {
      if (!isServed(method)) throw new ApiFailure(ErrorCode.MethodNotFound);
      answer = { result: await this.serve(method, this.request(method, msg)) };
    } catch (err) {
      answer = this.failure(err);
    }
    if (msg.reply) this.d.broker.publish(msg.reply, JSON.stringify(answer));
  }

  /** A request body from NATS, checked against its method's schema (107 otherwise). */
  private request(method: keyof typeof API_METHODS, msg: Msg): unknown {
    const value = readJson(msg, MAX_API_REQUEST_BYTES);
    if (!API_METHODS[method].validator.check(value)) throw new ApiFailure(ErrorCode.BadRequest);
    return value;
  }

  private failure(err: unknown): ApiAnswer {
    if (err instanceof ApiFailure) return apiError(err.code);
    if (!(err instanceof ClusterUnavailableError)) this.d.rejections.count("api_failed", this.d.log, { err: String(err) });
    return apiError(ErrorCode.Internal);
  }

  private async serve(method: Served, body: unknown): Promise<unknown> {
    switch (method) {
      case "history":
        return this.history(body as HistoryRequest);
      case "presence": {
        const members = await this.d.presence.list(this.presenceRoom(body as { channel: string }));
        return { presence: Object.fromEntries([...members].map(([client, user]) => [client, { client, user }])) };
      }
      case "presence_stats":
        return this.d.presence.stats(this.presenceRoom(body as { channel: string }));
      case "unsubscribe": {
        const req = body as UnsubscribeRequest;
        this.channel(req.channel);
        this.named(req);
        await this.everywhere("unsubscribe", req);
        return {};
      }
      case "disconnect": {
        const req = body as DisconnectRequest;
        this.named(req);
        const d = req.disconnect ?? DisconnectCode.ForceNoReconnect;
        await this.everywhere("disconnect", { user: req.user, ...(req.client === undefined ? {} : { client: req.client }), disconnect: { code: d.code, reason: d.reason } });
        return {};
      }
      case "channels": {
        const counts = new Map<string, number>();
        for (const a of await this.everywhere("channels", body as ChannelsRequest)) for (const [ch, n] of a.channels ?? []) counts.set(ch, (counts.get(ch) ?? 0) + n);
        return { channels: Object.fromEntries([...counts].map(([ch, n]) => [ch, { num_clients: n }])) };
      }
      case "info":
        return { nodes: (await this.everywhere("info", {})).flatMap((a) => (a.node ? [a.node] : [])) };
    }
  }

  /** This gateway's part and every other live gateway's (their answers' parts, flattened). */
  private async everywhere(op: Control, body: object): Promise<ControlAnswer[]> {
    const mine = this.local(op, body);
    const others = await askEveryGateway(this.d.broker, this.d.registry, methodSubject(GATEWAY_CONTROL_PREFIX, op), JSON.stringify(body), controlAnswer.check, () =>
      this.d.rejections.count("nats_control_payload", this.d.log),
    );
    return [...mine.map((b) => ({ gateway: this.d.registry.id, part: 0, parts: 1, ...b })), ...[...others.values()].flat()];
  }

  /** Another gateway asks for this one's part. */
  private onControl(msg: Msg): void {
    if (!this.d.replies.allows("gateway.control", msg.subject, msg.reply)) return;
    const op = methodFromSubject(GATEWAY_CONTROL_PREFIX, msg.subject);
    const body = readJson(msg, MAX_API_REQUEST_BYTES);
    if (!isControl(op) || !msg.reply || !API_METHODS[op].validator.check(body)) {
      this.d.rejections.count("nats_control_payload", this.d.log, { subject: msg.subject });
      return;
    }
    answerInParts(this.d.broker, msg.reply, this.d.registry.id, this.local(op, body));
  }

  /** This gateway's own part of a control operation, as answer bodies (one or more parts). */
  private local(op: Control, body: unknown): Array<Partial<ControlAnswer>> {
    switch (op) {
      case "unsubscribe": {
        const req = body as UnsubscribeRequest;
        let done = 0;
        for (const ws of this.d.sockets.find(req.user, req.client)) if (ws.data.protocol === "centrifugo" && ws.data.client.serverUnsubscribe(req.channel)) done++;
        return [{ done }];
      }
      case "disconnect": {
        const req = body as DisconnectRequest;
        const d = req.disconnect ?? DisconnectCode.ForceNoReconnect;
        const targets = this.d.sockets.find(req.user, req.client);
        for (const ws of targets) {
          if (ws.data.protocol === "centrifugo") ws.data.client.disconnect(d, "api_disconnect");
          else ws.close(d.code, d.reason);
        }
        return [{ done: targets.length }];
      }
      case "channels": {
        const pattern = (body as ChannelsRequest).pattern;
        const matches = pattern === undefined ? () => true : globMatcher(pattern);
        const list = [...this.localChannels()].filter(([ch, n]) => n > 0 && matches(ch));
        return split(list, channelBytes).map((channels) => ({ channels }));
      }
      case "info":
        return [{ node: this.node() }];
    }
  }

  /** Channels with members here, and how many: rooms (`/chat/` sockets included), the monitor (both endpoints), users' inboxes (both endpoints). */
  private *localChannels(): Generator<[string, number]> {
    for (const [room, n] of this.d.presence.localCounts()) yield [`chat:${room}`, n];
    const server = this.d.server();
    let monitor = server.subscriberCount(MONITOR_TOPIC);
    for (const enc of this.d.encodings) monitor += server.subscriberCount(enc.topic(MONITOR_CHANNEL));
    yield [MONITOR_CHANNEL, monitor];
    for (const [user, n] of this.d.inbox.userCounts()) yield [`#${user}`, n];
  }

  private node(): InfoNode {
    let channels = 0;
    let subs = 0;
    for (const [, n] of this.localChannels()) {
      if (n === 0) continue;
      channels++;
      subs += n;
    }
    return {
      uid: this.d.registry.id,
      name: this.d.info.name,
      version: this.d.info.version,
      num_clients: this.d.socketCount(),
      num_users: this.d.sockets.users,
      num_channels: channels,
      num_subs: subs,
      uptime: Math.floor((Date.now() - this.startedAt) / 1000),
    };
  }

  private async history(req: HistoryRequest): Promise<unknown> {
    const ref = this.channel(req.channel);
    const limit = req.limit ?? 0;
    if (ref.kind === "room") {
      if (req.since?.epoch !== undefined && req.since.epoch !== "" && req.since.epoch !== (await this.d.rooms.currentEpoch())) throw new ApiFailure(ErrorCode.UnrecoverablePosition);
      return this.d.rooms.history(ref.room, { limit, sinceOffset: req.since?.offset, reverse: req.reverse ?? false });
    }
    if (ref.kind === "inbox") {
      const epoch = this.d.inboxEpoch.current ?? "";
      if (req.since?.epoch !== undefined && req.since.epoch !== "" && req.since.epoch !== epoch) throw new ApiFailure(ErrorCode.UnrecoverablePosition);
      return inboxHistory(this.d.inboxStore, ref.userId, epoch, { limit, since: req.since?.offset ?? 0, reverse: req.reverse ?? false, max: this.d.info.historySize });
    }
    throw new ApiFailure(ErrorCode.NotAvailable); // system:monitor keeps no history
  }

  /** The room of a presence call: rooms only (108 elsewhere). */
  private presenceRoom(req: { channel: string }): string {
    const ref = this.channel(req.channel);
    if (ref.kind !== "room") throw new ApiFailure(ErrorCode.NotAvailable);
    return ref.room;
  }

  /** A channel the gateways serve (107 when it cannot be valid, 102 for other namespaces). */
  private channel(name: string): Exclude<ChannelRef, { kind: "invalid" | "unknown" }> {
    const ref = parseChannel(name);
    if (ref.kind === "invalid") throw new ApiFailure(ErrorCode.BadRequest);
    if (ref.kind === "unknown") throw new ApiFailure(ErrorCode.UnknownChannel);
    return ref;
  }

  /** Anonymous connections are named one at a time (`user: ""` needs a `client`), never all at once. */
  private named(req: { user: string; client?: string | undefined }): void {
    if (req.user === "" && req.client === undefined) throw new ApiFailure(ErrorCode.BadRequest);
  }
}
