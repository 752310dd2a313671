import type { Msg } from "@nats-io/transport-node";
import {
  API_METHODS, GATEWAY_API_METHODS, GATEWAY_CONTROL_OPS, GATEWAY_API_PREFIX, GATEWAY_API_QUEUE, GATEWAY_API_WILDCARD, GATEWAY_CONTROL_PREFIX, GATEWAY_CONTROL_WILDCARD, MAX_API_REQUEST_BYTES,
  ProtocolError, centrifugo, controlAnswer, methodFromSubject, methodSubject,
  type Actor, type ApiAnswer, type ChannelsRequest, type ControlAnswer, type DisconnectRequest, type HistoryRequest, type InfoNode, type RefreshRequest, type ServedChannel, type SubscribeRequest, type UnsubscribeRequest,
} from "@rt/protocol";
import type { Logger, ReplyGuard } from "@rt/runtime";
import type { Broker } from "../broker/broker.ts";
import { ClusterUnavailableError, answerInParts, askEveryGateway, readJson } from "../cluster/gather.ts";
import type { GatewayRegistry } from "../cluster/gateways.ts";
import { split, textBytes } from "../cluster/parts.ts";
import type { Node } from "../node/node.ts";
import type { Rejections } from "../rejections.ts";
import type { SocketIndex } from "../sessions/socket-index.ts";
import { globMatcher } from "./glob.ts";

const { ErrorCode, DisconnectCode } = centrifugo;
/** The server API asks the policy as the server. */
const SERVER: Actor = { kind: "server" };

/** What a gateway answers for the server API. */
export interface GatewayApiDeps {
  broker: Broker;
  registry: GatewayRegistry;
  /** The one gateway API (channels, policy, presence, history, this gateway's connections). */
  node: Node;
  sockets: SocketIndex;
  rejections: Rejections;
  /** Which reply subjects a request may name (the notifier's for `gateway.api`, gateways' for `gateway.control`). */
  replies: ReplyGuard;
  log: Logger;
  /** Open sockets here. */
  socketCount: () => number;
  info: { name: string; version: string };
}

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
 * presence_stats from this gateway's view (presence asks the others itself); subscribe,
 * unsubscribe, disconnect, refresh, channels and info for every gateway: this one's own part, and the others' asked on
 * `gateway.control.<op>`, where every gateway answers for its own sockets (within GATHER_MS,
 * gateways known by heartbeat).
 */
export class GatewayApi {
  private readonly startedAt = Date.now();
  constructor(private readonly d: GatewayApiDeps) {}

  start(): void {
    this.d.broker.serve(GATEWAY_API_WILDCARD, GATEWAY_API_QUEUE, (msg) => void this.onApi(msg));
    this.d.broker.acquire(GATEWAY_CONTROL_WILDCARD, (msg) => void this.onControl(msg));
  }

  private async onApi(msg: Msg): Promise<void> {
    if (!this.d.replies.allows("gateway.api", msg.subject, msg.reply)) return;
    const method = methodFromSubject(GATEWAY_API_PREFIX, msg.subject);
    let answer: ApiAnswer;
    try {
      if (!isServed(method)) throw new ProtocolError(ErrorCode.MethodNotFound);
      answer = { result: await this.serve(method, this.request(method, msg)) };
    } catch (err) {
      answer = this.failure(err);
    }
    if (msg.reply) this.d.broker.publish(msg.reply, JSON.stringify(answer));
  }

  /** A request body from NATS, checked against its method's schema (107 otherwise). */
  private request(method: keyof typeof API_METHODS, msg: Msg): unknown {
    const value = readJson(msg, MAX_API_REQUEST_BYTES);
    if (!API_METHODS[method].validator.check(value)) throw new ProtocolError(ErrorCode.BadRequest);
    return value;
  }

  private failure(err: unknown): ApiAnswer {
    if (err instanceof ProtocolError) return err.toAnswer();
    if (!(err instanceof ClusterUnavailableError)) this.d.rejections.count("api_failed", this.d.log, { err: String(err) });
    return new ProtocolError(ErrorCode.Internal).toAnswer();
  }

  private async serve(method: Served, body: unknown): Promise<unknown> {
    switch (method) {
      case "history": {
        const req = body as HistoryRequest;
        return this.d.node.history(SERVER, req.channel, req);
      }
      case "presence":
        return { presence: await this.d.node.presence(SERVER, (body as { channel: string }).channel) };
      case "presence_stats":
        return this.d.node.presenceStats(SERVER, (body as { channel: string }).channel);
      case "subscribe": {
        const req = body as SubscribeRequest;
        this.named(req);
        this.subscribable(req.channel);
        await this.everywhere("subscribe", req);
        return {};
      }
      case "unsubscribe": {
        const req = body as UnsubscribeRequest;
        this.channel(req.channel);
        this.named(req);
        await this.everywhere("unsubscribe", req);
        return {};
      }
      case "refresh": {
        const req = body as RefreshRequest;
        this.named(req);
        await this.everywhere("refresh", req);
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
    // Asked at once, this one's part meanwhile (a subscribe places channels: it may wait on NATS).
    const [mine, others] = await Promise.all([this.local(op, body), askEveryGateway(this.d.broker, this.d.registry, methodSubject(GATEWAY_CONTROL_PREFIX, op), JSON.stringify(body), controlAnswer.check, () =>
      this.d.rejections.count("nats_control_payload", this.d.log),
    )]);
    return [...mine.map((b) => ({ gateway: this.d.registry.id, part: 0, parts: 1, ...b })), ...[...others.values()].flat()];
  }

  /** Another gateway asks for this one's part. */
  private async onControl(msg: Msg): Promise<void> {
    if (!this.d.replies.allows("gateway.control", msg.subject, msg.reply)) return;
    const op = methodFromSubject(GATEWAY_CONTROL_PREFIX, msg.subject);
    const body = readJson(msg, MAX_API_REQUEST_BYTES);
    if (!isControl(op) || !msg.reply || !API_METHODS[op].validator.check(body)) {
      this.d.rejections.count("nats_control_payload", this.d.log, { subject: msg.subject });
      return;
    }
    let bodies: Array<Partial<ControlAnswer>>;
    try {
      bodies = await this.local(op, body);
    } catch (err) {
      this.d.rejections.count("api_failed", this.d.log, { op, err: String(err) });
      return;
    }
    answerInParts(this.d.broker, msg.reply, this.d.registry.id, bodies);
  }

  /** This gateway's own part of a control operation, as answer bodies (one or more parts). */
  private async local(op: Control, body: unknown): Promise<Array<Partial<ControlAnswer>>> {
    switch (op) {
      case "subscribe": {
        const req = body as SubscribeRequest;
        const channel = this.subscribable(req.channel);
        return [{ done: await this.d.node.subscribeHere(req.user, req.client, channel, req.info, req.data) }];
      }
      case "refresh": {
        const req = body as RefreshRequest;
        const expiresAt = req.expire_at === undefined || req.expire_at === 0 ? undefined : req.expire_at * 1000;
        if (!req.expired && req.expire_at === undefined) return [{ done: 0 }]; // nothing to change
        return [{ done: this.d.node.refreshHere(req.user, req.client, req.expired === true, expiresAt) }];
      }
      case "unsubscribe": {
        const req = body as UnsubscribeRequest;
        return [{ done: this.d.node.unsubscribeHere(req.user, req.client, req.channel) }];
      }
      case "disconnect": {
        const req = body as DisconnectRequest;
        return [{ done: this.d.node.disconnectHere(req.user, req.client, req.disconnect ?? DisconnectCode.ForceNoReconnect) }];
      }
      case "channels": {
        const pattern = (body as ChannelsRequest).pattern;
        const matches = pattern === undefined ? () => true : globMatcher(pattern);
        const list = [...this.d.node.channelsHere()].filter(([ch, n]) => n > 0 && matches(ch));
        return split(list, channelBytes).map((channels) => ({ channels }));
      }
      case "info":
        return [{ node: this.node() }];
    }
  }

  private node(): InfoNode {
    let channels = 0;
    let subs = 0;
    for (const [, n] of this.d.node.channelsHere()) {
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

  /** A channel name the gateways serve (107 when it cannot be valid, 102 for a namespace nobody configured). */
  private channel(name: string): void {
    const ref = this.d.node.resolve(name);
    if (ref.kind === "invalid") throw new ProtocolError(ErrorCode.BadRequest);
    if (ref.kind === "unknown") throw new ProtocolError(ErrorCode.UnknownChannel);
  }

  /** A channel the server may subscribe connections to (107, 102; 103 for `#<user>`, subscribed at connect by itself). */
  private subscribable(name: string): ServedChannel {
    return this.d.node.check(SERVER, "subscribe", name);
  }

  /** Anonymous connections are named one at a time (`user: ""` needs a `client`), never all at once. */
  private named(req: { user: string; client?: string | undefined }): void {
    if (req.user === "" && req.client === undefined) throw new ProtocolError(ErrorCode.BadRequest);
  }
}
