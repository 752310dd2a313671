import { ProtocolError, centrifugo, depthWithin, isDeltaType, type Actor, type ServedChannel, type centrifugo as C } from "@rt/protocol";
import type { Principal } from "../../auth.ts";
import type { ConnectGrant } from "../../proxies/connect.ts";
import type { AnswerInfo, ProxyOutcome } from "../../proxies/outcome.ts";
import type { ProxySubscription } from "../../proxies/subscribe.ts";
import type { Recovery } from "../../channels/hub.ts";
import type { Placement } from "../../node/subscription.ts";
import { Subscriptions, type OpenSubscription } from "../../sessions/subscriptions.ts";
import { tokenRefusal, type SubscriptionGrant as TokenGrant } from "../../subscription-token.ts";
import type { ClientContext } from "./context.ts";

const { ErrorCode, DisconnectCode } = centrifugo;
type Method = C.Method;

/** The unsubscribe push of the server API's `unsubscribe` (below 2500: the SDKs do not subscribe again). */
export const SERVER_UNSUBSCRIBE = { code: 2000, reason: "server unsubscribe" };
/** The unsubscribe push of a subscription whose token expired and was not renewed (2501, Centrifugo's: the SDKs subscribe again, with a new token). */
export const SUBSCRIPTION_EXPIRED = { code: 2501, reason: "subscription expired" };
/** The SDK's subscribe flag asking for 112 instead of an unrecovered subscription (set when the app gave a getState callback). */
const REJECT_UNRECOVERED = 2;

/** The connect request's `subs` entry for `channel`: an own key only (not `constructor` or `toString` of every object). */
function askedOf<T>(subs: Record<string, T> | undefined, channel: string): T | undefined {
  return subs !== undefined && Object.hasOwn(subs, channel) ? subs[channel] : undefined;
}

/** The recovery a client asks for (subscribe, or a connect's `subs`): an offset in an epoch. */
function recoveryOf(asked: { recover?: boolean | undefined; offset?: number | undefined; epoch?: string | undefined } | undefined): Recovery | undefined {
  return asked?.recover && asked.epoch ? { offset: asked.offset ?? 0, epoch: asked.epoch } : undefined;
}

/** Seconds until `expiresAt`, as the protocol's `ttl` (at least 1). */
const ttlOf = (expiresAt: number): number => Math.max(1, Math.floor((expiresAt - Date.now()) / 1000));

/** A result's `expires`/`ttl` for something that expires at `expiresAt` (nothing when it never does). */
const expiry = (expiresAt: number | undefined): object => (expiresAt === undefined ? {} : { expires: true, ttl: ttlOf(expiresAt) });

/** The session asking, as the channel policy sees it. */
function actor(c: ClientContext, channel: string, subscriptionToken = false): Actor {
  return { kind: "client", user: c.user ?? "", subscribed: c.subs.open(channel) !== undefined, subscriptionToken };
}

/**
 * A proxy's answer that is not a result, as what the session throws: its error as the client gets
 * it (code, message, temporary), or its disconnect (the session closes with that code and reason).
 */
function refusal(o: Exclude<ProxyOutcome<unknown>, { kind: "result" }>): ProtocolError | BackendDisconnect {
  if (o.kind === "disconnect") return new BackendDisconnect(o.disconnect);
  return new ProtocolError(o.error.code, undefined, o.error.message, o.error.temporary);
}

/** A backend closed the connection (a proxy's `disconnect` answer): the session closes with its code and reason. */
export class BackendDisconnect extends Error {
  override readonly name = "BackendDisconnect";
  constructor(readonly disconnect: { code: number; reason: string }) {
    super(`disconnect ${disconnect.code}`);
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A backend's connection or channel info as the JSON value the gateway carries: `info`, or `b64info`'s bytes when they are UTF-8 JSON (otherwise none). */
export function jsonInfo(a: AnswerInfo): unknown {
  if (a.infoBytes === undefined) return a.info;
  try {
    return JSON.parse(utf8.decode(a.infoBytes));
  } catch {
    return undefined;
  }
}

/** True when `channel`'s namespace renews its subscriptions through `proxy.sub_refresh`. */
const proxyRenews = (channel: ServedChannel): boolean => channel.kind === "namespace" && channel.namespace.options.sub_refresh_proxy_enabled;

/** Runs one command: each method's handler. Commands queued behind a connect that did not succeed are not served. */
export async function runCommand(c: ClientContext, method: Method, id: number | undefined, body: unknown): Promise<void> {
  if (method !== "connect" && c.state !== "connected") throw new ProtocolError(ErrorCode.TokenExpired);
  switch (method) {
    case "connect":
      return connect(c, id, body as C.ConnectRequest);
    case "subscribe":
      return subscribe(c, id, body as C.SubscribeRequest);
    case "unsubscribe":
      return unsubscribe(c, id, body as C.ChannelRequest);
    case "publish":
      return publish(c, id, body as C.PublishRequest);
    case "history": {
      const req = body as C.HistoryRequest;
      return c.reply(id, method, await c.d.node.history(actor(c, req.channel), req.channel, req));
    }
    case "presence": {
      const req = body as C.ChannelRequest;
      return c.reply(id, method, { presence: await c.d.node.presence(actor(c, req.channel), req.channel) });
    }
    case "presence_stats": {
      const req = body as C.ChannelRequest;
      return c.reply(id, method, await c.d.node.presenceStats(actor(c, req.channel), req.channel));
    }
    case "rpc":
      return rpc(c, id, body as C.RpcRequest);
    case "refresh":
      return refresh(c, id, body as C.RefreshRequest);
    case "sub_refresh":
      return subRefresh(c, id, body as C.SubRefreshRequest);
    case "send":
      return; // asynchronous messages to the server: nothing listens
  }
}

/**
 * `connect`: the token checked (or anonymous where allowed), then the server-side subscriptions:
 * the token's `channels` placed (recovered where the request's `subs` ask), and the user's inbox
 * `#<user>`. The reply carries every one's position; they are opened right after it.
 */
async function connect(c: ClientContext, id: number | undefined, req: C.ConnectRequest): Promise<void> {
  if (c.state !== "new") throw new ProtocolError(ErrorCode.BadRequest, DisconnectCode.BadRequest);
  c.state = "connecting";
  let principal: Principal;
  let proxied: ConnectGrant | undefined;
  if ((req.token === undefined || req.token === "") && c.d.proxies.connectEnabled) {
    // PROXY_CONNECT=1: the backend says who a client without a token is (docs/proxy.md).
    const o = await c.d.proxies.connect({
      ...c.proxyConnection(), name: req.name, version: req.version, data: req.data, headers: c.origin.headers, remoteAddr: c.origin.address,
    });
    if (c.state !== "connecting") return;
    if (o.kind !== "result") {
      if (o.kind === "error") {
        c.state = "new"; // the SDK connects again (a temporary error), or stops
        c.connectQueued = false;
      }
      throw refusal(o);
    }
    proxied = o.result;
    c.meta = proxied.meta;
    c.connInfo = jsonInfo(proxied);
    principal = { userId: proxied.user, expiresAt: proxied.expiresAt, channels: [...proxied.subs.keys()] };
  } else if (req.token === undefined || req.token === "") {
    if (!c.d.config.allowAnonymous) throw new ProtocolError(ErrorCode.Unauthorized, DisconnectCode.InvalidToken);
    principal = { userId: "", expiresAt: undefined };
  } else {
    const check = await c.d.auth.check(req.token);
    if (!check.ok) {
      if (!check.expired) throw new ProtocolError(ErrorCode.Unauthorized, DisconnectCode.InvalidToken);
      c.state = "new"; // the SDK gets a new token and connects again
      c.connectQueued = false;
      throw new ProtocolError(ErrorCode.TokenExpired);
    }
    principal = check.principal;
  }
  if (c.state !== "connecting") return;
  const user = principal.userId;
  const own = user === "" ? undefined : `#${user}`;
  const serverSide = c.d.node.serverSide(principal.channels, user);
  if (serverSide.length + (own ? 1 : 0) > c.d.config.maxChannels) throw new ProtocolError(ErrorCode.LimitExceeded, DisconnectCode.ChannelLimit);
  const n = (c.d.perUser.get(user) ?? 0) + 1;
  if (user !== "" && n > c.d.config.maxConnectionsPerUser) throw new ProtocolError(ErrorCode.LimitExceeded, DisconnectCode.ConnectionLimit);
  c.d.perUser.set(user, n);
  c.user = user;
  // A connection the proxy let in expires by the gateway's doing (refreshed through proxy.refresh
  // with PROXY_REFRESH=1, closed with 3005 otherwise): its reply does not ask the SDK to refresh.
  const refreshed = proxied !== undefined && c.d.proxies.refreshEnabled;
  c.expiresAt = refreshed ? undefined : principal.expiresAt;

  // A push-only client never answers pings; an emulated one gets its session secret and gateway (it sends them back with its commands).
  const result: Record<string, unknown> = { client: c.id, version: c.d.config.version, ping: c.d.config.pingIntervalSec, pong: !c.transport.info.unidirectional, ...(proxied ? {} : expiry(principal.expiresAt)), ...c.emulation() };
  if (proxied?.data !== undefined) result.data = proxied.data;
  // Keyed by channel names, which may be `__proto__` or `constructor` (channels without a namespace): a Map, made an object at the end.
  const subs = new Map<string, unknown>();
  const sub = c.subscriber();
  /** A proxy's options for a server-side channel (none for a token's). */
  const optionsOf = (ch: ServedChannel): ProxySubscription | undefined => proxied?.subs.get(ch.channel);
  // The token's (or the proxy's) channels first (their positions are brought up to date at the
  // reply), then the inbox, which may write as soon as it is placed: nothing awaits between it and the reply.
  const settled = await Promise.allSettled(serverSide.map((ch) => {
    const o = optionsOf(ch);
    return c.d.node.place(sub, ch, c.d.node.grant(user, ch, {}, o?.override, o ? jsonInfo(o) : undefined), recoveryOf(askedOf(req.subs, ch.channel)));
  }));
  const placed = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const cancel = () => {
    for (const p of placed) p.cancel();
  };
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) {
    cancel();
    throw failed.reason instanceof ProtocolError ? failed.reason : new ProtocolError(ErrorCode.Internal);
  }
  try {
    if (own) {
      const inbox = c.d.node.openInbox(sub, recoveryOf(askedOf(req.subs, own)), () => c.disconnect(DisconnectCode.Slow));
      c.subs.opened(own, inbox.opened, { fixed: true });
      subs.set(own, await inbox.result);
    }
  } catch (err) {
    cancel();
    throw err;
  }
  if (c.state !== "connecting") return cancel();
  for (const p of placed) {
    p.catchUp();
    const o = proxied?.subs.get(p.channel);
    subs.set(p.channel, o?.data === undefined ? p.result : { ...p.result, data: o.data });
  }
  if (subs.size > 0) result.subs = Object.fromEntries(subs);
  c.state = "connected";
  c.lastPingAt = Date.now();
  c.index();
  c.reply(id, "connect", result);
  // Synchronously after the reply: every later publication reaches the socket through the topics.
  for (const p of placed) {
    const o = proxied?.subs.get(p.channel);
    c.subs.opened(p.channel, p.open(), o ? { expiresAt: o.expiresAt, info: jsonInfo(o) } : {});
    if (o?.expiresAt !== undefined && proxyRenews(serverSide.find((ch) => ch.channel === p.channel)!)) c.subRefreshBefore(p.channel, o.expiresAt);
  }
  if (refreshed && principal.expiresAt !== undefined) c.refreshBefore(principal.expiresAt);
}

/**
 * `subscribe`, in Centrifugo's order: a name that cannot be valid (107), not subscribed yet (105),
 * within the connection's limit (106), a namespace that exists (102), its subscription token
 * checked when it gives one (109 expired, 103 invalid, close 3500 for another user's, client's or
 * channel's), then the policy (103; `$` channels and namespaces closed to clients need the token),
 * then placed: the reply, then the topics. An unknown `delta` type closes with 3501 first;
 * `delta: "fossil"` where the namespace allows it makes a delta subscription (`delta: true`).
 */
async function subscribe(c: ClientContext, id: number | undefined, req: C.SubscribeRequest): Promise<void> {
  if (req.type !== undefined && req.type !== 0) throw new ProtocolError(ErrorCode.NotAvailable); // map and shared poll subscriptions are not served
  // A delta type Centrifugo does not know closes the connection (3501); a known one the namespace does not allow is ignored (grant).
  if (req.delta !== undefined && req.delta !== "" && !isDeltaType(req.delta)) throw new ProtocolError(ErrorCode.BadRequest, DisconnectCode.BadRequest);
  const node = c.d.node;
  const name = node.resolve(req.channel);
  if (name.kind === "invalid") throw new ProtocolError(ErrorCode.BadRequest);
  if (c.subs.has(req.channel)) throw new ProtocolError(ErrorCode.AlreadySubscribed);
  if (c.subs.size >= c.d.config.maxChannels) throw new ProtocolError(ErrorCode.LimitExceeded);
  if (name.kind === "unknown") throw new ProtocolError(ErrorCode.UnknownChannel);
  let token: TokenGrant | undefined;
  if (req.token !== undefined && req.token !== "") {
    const check = await c.d.subscriptionTokens.verify(req.token, { user: c.user!, client: c.id, channel: req.channel });
    if (!check.ok) throw refused(tokenRefusal(check.failure, "subscribe"));
    token = check.grant;
  }
  const decision = node.decide(actor(c, req.channel, token !== undefined), "subscribe", name);
  const channel = decision.channel;
  if (c.subs.has(req.channel)) throw new ProtocolError(ErrorCode.AlreadySubscribed); // subscribed while the token was checked
  const pending = c.subs.pending(req.channel);
  let proxied: ProxySubscription | undefined;
  if (decision.kind === "proxy") {
    // subscribe_proxy_enabled: the namespace's backend decides (docs/proxy.md); it never rejects, and answers within PROXY_TIMEOUT.
    const o = await c.d.proxies.subscribe(c.proxyConnection(), req.channel, req.data);
    if (pending.cancelled || c.state === "closed") return;
    if (o.kind !== "result") {
      if (c.subs.get(req.channel) === pending) c.subs.remove(req.channel);
      throw refusal(o);
    }
    proxied = o.result;
  }
  const grant = proxied ? node.grant(c.user!, channel, req, proxied.override, jsonInfo(proxied)) : node.grant(c.user!, channel, req, token?.override, token?.info);
  let placement: Placement;
  try {
    placement = await node.place(c.subscriber(), channel, grant, recoveryOf(req), ((req.flag ?? 0) & REJECT_UNRECOVERED) !== 0);
  } catch (err) {
    if (c.subs.get(req.channel) === pending) c.subs.remove(req.channel);
    throw err;
  }
  if (pending.cancelled || c.state === "closed") return placement.cancel();
  // From here to the topic subscribe, synchronously: nothing of the channel can slip between.
  const expiresAt = proxied ? proxied.expiresAt : token?.expiresAt;
  const data = proxied?.data === undefined ? {} : { data: proxied.data };
  // A subscription the proxy granted expires by the gateway's doing (renewed through proxy.sub_refresh,
  // or ended with 2501 and subscribed again, which asks proxy.subscribe): its reply does not ask the SDK to renew it.
  c.reply(id, "subscribe", { ...placement.result, ...data, ...(proxied ? {} : expiry(expiresAt)) });
  c.subs.opened(req.channel, placement.open(), { expiresAt, info: grant.info });
  if (proxied && expiresAt !== undefined && proxyRenews(channel)) c.subRefreshBefore(req.channel, expiresAt);
}

/**
 * The server API's `subscribe` for this connection: `channel` (the server may subscribe to it: the
 * caller asked the policy) placed as a server-side subscription, as a connect token's `channels`
 * are (no recovery asked, the namespace's `force_*` options apply), told with a subscribe push (its
 * position, and `data`), then opened: publications follow the push. False when it was not made:
 * not connected, subscribed (or subscribing) to it already, or at its channel limit.
 */
export async function serverSubscribe(c: ClientContext, channel: ServedChannel, info: unknown, data: unknown): Promise<boolean> {
  const name = channel.channel;
  if (c.state !== "connected" || c.subs.has(name) || c.subs.size >= c.d.config.maxChannels) return false;
  const grant = c.d.node.grant(c.user!, channel, {}, undefined, info);
  const pending = c.subs.pending(name);
  let placement: Placement;
  try {
    placement = await c.d.node.place(c.subscriber(), channel, grant, undefined);
  } catch (err) {
    if (c.subs.get(name) === pending) c.subs.remove(name);
    throw err;
  }
  if (pending.cancelled || c.state !== "connected") {
    placement.cancel();
    return false;
  }
  // From here to the topic subscribe, synchronously: nothing of the channel can slip between.
  c.push({ channel: name, subscribe: data === undefined ? placement.result : { ...placement.result, data } });
  c.subs.opened(name, placement.open(), { info: grant.info });
  return true;
}

function unsubscribe(c: ClientContext, id: number | undefined, req: C.ChannelRequest): void {
  const s = c.subs.get(req.channel);
  if (s && !(s.kind === "open" && s.fixed)) {
    c.subs.remove(req.channel);
    Subscriptions.release(s);
  }
  c.reply(id, "unsubscribe", {});
}

/**
 * `publish`: the policy, or with `publish_proxy_enabled` the namespace's backend, whose answer may
 * replace the data (docs/proxy.md); then published as the client's (its channel info with it).
 */
async function publish(c: ClientContext, id: number | undefined, req: C.PublishRequest): Promise<void> {
  const decision = c.d.node.decide(actor(c, req.channel), "publish", req.channel);
  let data = req.data;
  let skipHistory = false;
  if (decision.kind === "proxy") {
    if (!depthWithin(data)) throw new ProtocolError(ErrorCode.BadRequest);
    const o = await c.d.proxies.publish(c.proxyConnection(), req.channel, data);
    if (c.state !== "connected") return;
    if (o.kind !== "result") throw refusal(o);
    if (o.result.data !== undefined) data = o.result.data;
    skipHistory = o.result.skipHistory;
  }
  const sub = c.subs.open(req.channel);
  const info: C.ClientInfo = { user: c.user!, client: c.id };
  if (c.connInfo !== undefined) info.conn_info = c.connInfo;
  if (sub?.info !== undefined) info.chan_info = sub.info;
  // Taken in command order (a refusal is its reply); answered once stored, holding up no later command.
  const stored = c.d.node.publishTo(decision.channel, data, info, c.creator(), skipHistory);
  c.replyWhen(id, "publish", stored.then(() => ({})));
}

/**
 * `rpc`: a request on `rpc.<method>` with the proxy envelope (docs/proxy.md), answered within
 * PROXY_TIMEOUT: the result's `data`, the backend's error as it is, or its disconnect; a method
 * that is not 1-64 of `A-Z a-z 0-9 _ -` or data nested too deep: 107; nobody serving it: 108.
 */
async function rpc(c: ClientContext, id: number | undefined, req: C.RpcRequest): Promise<void> {
  if (!depthWithin(req.data)) throw new ProtocolError(ErrorCode.BadRequest);
  const o = await c.d.proxies.rpc(c.proxyConnection(), req.method ?? "", req.data);
  if (c.state !== "connected") return;
  if (o.kind !== "result") throw refusal(o);
  c.reply(id, "rpc", o.result.data === undefined ? {} : { data: o.result.data });
}

async function refresh(c: ClientContext, id: number | undefined, req: C.RefreshRequest): Promise<void> {
  const check = await c.d.auth.check(req.token);
  if (!check.ok) {
    if (check.expired) throw new ProtocolError(ErrorCode.TokenExpired);
    throw new ProtocolError(ErrorCode.Unauthorized, DisconnectCode.InvalidToken);
  }
  if (check.principal.userId !== c.user) throw new ProtocolError(ErrorCode.Unauthorized, DisconnectCode.InvalidToken);
  c.expiresAt = check.principal.expiresAt;
  c.reply(id, "refresh", { client: c.id, version: c.d.config.version, ...expiry(check.principal.expiresAt) });
}

/**
 * `sub_refresh`: a new subscription token for a channel this connection is subscribed to (103
 * otherwise) renews it (the SDK's getToken). Refused: expired 110, any other refusal closes with 3500.
 */
async function subRefresh(c: ClientContext, id: number | undefined, req: C.SubRefreshRequest): Promise<void> {
  c.d.node.check(actor(c, req.channel), "sub_refresh", req.channel);
  const check = await c.d.subscriptionTokens.verify(req.token, { user: c.user!, client: c.id, channel: req.channel });
  if (!check.ok) throw refused(tokenRefusal(check.failure, "sub_refresh"));
  const s: OpenSubscription | undefined = c.subs.open(req.channel);
  if (!s) throw new ProtocolError(ErrorCode.PermissionDenied); // unsubscribed while the token was checked
  c.subs.renewed(s, check.grant.expiresAt);
  c.reply(id, "sub_refresh", expiry(check.grant.expiresAt));
}

/** A token refusal as the error it is answered with. */
function refused(r: ReturnType<typeof tokenRefusal>): ProtocolError {
  return "error" in r ? new ProtocolError(r.error) : new ProtocolError(ErrorCode.Unauthorized, r.disconnect);
}
