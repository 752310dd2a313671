import { ProtocolError, centrifugo, type Actor, type ServedChannel, type centrifugo as C } from "@rt/protocol";
import type { Principal } from "../../auth.ts";
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
    case "rpc": {
      const req = body as C.RpcRequest;
      return c.reply(id, method, await c.d.rpc.call({ user: c.user!, client: c.id }, req.method ?? "", req.data));
    }
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
  if (req.token === undefined || req.token === "") {
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
  c.ws.data.expiresAt = principal.expiresAt;

  const result: Record<string, unknown> = { client: c.id, version: c.d.config.version, ping: c.d.config.pingIntervalSec, pong: true, ...expiry(principal.expiresAt) };
  const subs: Record<string, unknown> = {};
  const sub = c.subscriber();
  // The token's channels first (their positions are brought up to date at the reply), then the
  // inbox, which may write as soon as it is placed: nothing awaits between it and the reply.
  const settled = await Promise.allSettled(serverSide.map((ch) => c.d.node.place(sub, ch, c.d.node.grant(user, ch, {}, undefined, undefined), recoveryOf(req.subs?.[ch.channel]))));
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
      const inbox = c.d.node.openInbox(sub, recoveryOf(req.subs?.[own]), () => c.disconnect(DisconnectCode.Slow));
      c.subs.opened(own, inbox.opened, { fixed: true });
      subs[own] = await inbox.result;
    }
  } catch (err) {
    cancel();
    throw err;
  }
  if (c.state !== "connecting") return cancel();
  for (const p of placed) {
    p.catchUp();
    subs[p.channel] = p.result;
  }
  if (Object.keys(subs).length > 0) result.subs = subs;
  c.state = "connected";
  c.lastPingAt = Date.now();
  c.d.sockets.add(c.ws, user, c.id); // removed by the server at close
  c.reply(id, "connect", result);
  // Synchronously after the reply: every later publication reaches the socket through the topics.
  for (const p of placed) c.subs.opened(p.channel, p.open());
}

/**
 * `subscribe`, in Centrifugo's order: a name that cannot be valid (107), not subscribed yet (105),
 * within the connection's limit (106), a namespace that exists (102), its subscription token
 * checked when it gives one (109 expired, 103 invalid, close 3500 for another user's, client's or
 * channel's), then the policy (103; `$` channels and namespaces closed to clients need the token),
 * then placed: the reply, then the topics.
 */
async function subscribe(c: ClientContext, id: number | undefined, req: C.SubscribeRequest): Promise<void> {
  if (req.type !== undefined && req.type !== 0) throw new ProtocolError(ErrorCode.NotAvailable); // map and shared poll subscriptions are not served
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
  const channel = node.check(actor(c, req.channel, token !== undefined), "subscribe", name);
  const grant = node.grant(c.user!, channel, req, token?.override, token?.info);
  if (c.subs.has(req.channel)) throw new ProtocolError(ErrorCode.AlreadySubscribed); // subscribed while the token was checked
  const pending = c.subs.pending(req.channel);
  let placement: Placement;
  try {
    placement = await node.place(c.subscriber(), channel, grant, recoveryOf(req), ((req.flag ?? 0) & REJECT_UNRECOVERED) !== 0);
  } catch (err) {
    if (c.subs.get(req.channel) === pending) c.subs.remove(req.channel);
    throw err;
  }
  if (pending.cancelled || c.state === "closed") return placement.cancel();
  // From here to the topic subscribe, synchronously: nothing of the channel can slip between.
  const expiresAt = token?.expiresAt;
  c.reply(id, "subscribe", { ...placement.result, ...expiry(expiresAt) });
  c.subs.opened(req.channel, placement.open(), { expiresAt, info: grant.info });
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

function publish(c: ClientContext, id: number | undefined, req: C.PublishRequest): void {
  const sub = c.subs.open(req.channel);
  const info: C.ClientInfo = sub?.info === undefined ? { user: c.user!, client: c.id } : { user: c.user!, client: c.id, chan_info: sub.info };
  c.d.node.publish(actor(c, req.channel), req.channel, req.data, info, c.creator());
  c.reply(id, "publish", {});
}

async function refresh(c: ClientContext, id: number | undefined, req: C.RefreshRequest): Promise<void> {
  const check = await c.d.auth.check(req.token);
  if (!check.ok) {
    if (check.expired) throw new ProtocolError(ErrorCode.TokenExpired);
    throw new ProtocolError(ErrorCode.Unauthorized, DisconnectCode.InvalidToken);
  }
  if (check.principal.userId !== c.user) throw new ProtocolError(ErrorCode.Unauthorized, DisconnectCode.InvalidToken);
  c.ws.data.expiresAt = check.principal.expiresAt;
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
