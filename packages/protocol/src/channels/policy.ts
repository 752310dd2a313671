import { DisconnectCode, ErrorCode, type Disconnect } from "../centrifugo/codes.ts";
import { channelRegexMatches, resolveChannel, type ChannelName } from "./names.ts";
import type { ChannelNamespaces, Namespace } from "./namespaces.ts";
import { DELTA_TYPES, hasHistory, type ChannelOptions, type DeltaType } from "./options.ts";

/**
 * What is asked of a channel. `sub_refresh`: a client renews its subscription (or, asked by the
 * server, the proxy renews it). `history_remove`: the server API removes the kept publications.
 */
export type Action = "subscribe" | "publish" | "history" | "history_remove" | "presence" | "presence_stats" | "sub_refresh";

/** Who asks. */
export type Actor =
  /**
   * A connection of the client protocol. `user` is "" when anonymous; `subscribed`: it is subscribed
   * to the channel asked about; `subscriptionToken`: it presented a subscription token for this
   * channel that was verified for its user (the caller verifies it once the name resolved).
   */
  | { kind: "client"; user: string; subscribed: boolean; subscriptionToken?: boolean }
  /** The server API (HTTP or NATS), and server-side subscriptions (a connection token's `channels`). */
  | { kind: "server" }
  /** A `/chat/{room}` socket: it keeps its endpoint's rules, whatever the `chat` options say. */
  | { kind: "room-socket" };

/** A channel the policy recognised (neither unknown nor invalid). */
export type ServedChannel = Exclude<ChannelName, { kind: "unknown" | "invalid" }>;

/** The backend proxies a namespace may hand a decision to (asked over NATS: `proxy.subscribe`, `proxy.publish`, `proxy.sub_refresh`). */
export type ProxyKind = "subscribe" | "publish" | "sub_refresh";

/** The codes a refusal carries: 102 unknown channel, 103 permission denied, 107 bad request, 108 not available. */
export type DenyCode = typeof ErrorCode.UnknownChannel | typeof ErrorCode.PermissionDenied | typeof ErrorCode.BadRequest | typeof ErrorCode.NotAvailable;

/** The answer. */
export type Decision =
  | { kind: "allow"; channel: ServedChannel }
  /** The namespace's backend decides: ask its proxy and do what it answers. */
  | { kind: "proxy"; proxy: ProxyKind; channel: ServedChannel }
  /** Refused with `code` (an error reply); with `disconnect`, the connection is closed instead, as Centrifugo does. `reason` is for logs. */
  | { kind: "deny"; code: DenyCode; reason: string; disconnect?: Disconnect };

const deny = (code: DenyCode, reason: string, disconnect?: Disconnect): Decision => (disconnect ? { kind: "deny", code, reason, disconnect } : { kind: "deny", code, reason });
const allow = (channel: ServedChannel): Decision => ({ kind: "allow", channel });
const proxy = (p: ProxyKind, channel: ServedChannel): Decision => ({ kind: "proxy", proxy: p, channel });

/**
 * The one answer to "may this actor do this on this channel", for the client protocol, the
 * `/chat/` endpoint and the server API of the gateway and the notifier alike. Pure: the caller
 * says who asks (subscribed? a verified subscription token?) and does what it is told.
 *
 * The order is Centrifugo's (its client handler): the namespace (102), the name (107;
 * `channel_regex` binds clients only), what the channel has (108 before 103: history asked of a
 * namespace without history is "not available" whoever asks), then permissions (103), where a
 * namespace's proxy, when enabled, answers instead of the `allow_*` options. Anonymous clients
 * (user "") get nothing a `*_for_anonymous` option does not add, and those options add to
 * `*_for_client` and `*_for_subscriber`, never stand alone (as in Centrifugo).
 *
 * Built in and not configurable: `#<user>` (its user reads its history; nobody subscribes by
 * command, it is a server-side subscription made at connect; nobody publishes: notifications go
 * through the notifier; no presence) and `system:monitor` (every client subscribes; nobody
 * publishes; no history, no presence).
 */
export function checkChannel(namespaces: ChannelNamespaces, actor: Actor, action: Action, channel: string | ChannelName): Decision {
  const ref = typeof channel === "string" ? resolveChannel(channel, namespaces) : channel;
  if (ref.kind === "unknown") return deny(ErrorCode.UnknownChannel, "no such namespace");
  if (ref.kind === "invalid") return deny(ErrorCode.BadRequest, `bad channel name: ${ref.reason}`);
  switch (actor.kind) {
    case "client":
      return clientDecision(actor, action, ref);
    case "server":
      return serverDecision(action, ref);
    case "room-socket":
      return ref.kind === "namespace" && ref.room !== undefined && (action === "subscribe" || action === "publish") ? allow(ref) : deny(ErrorCode.PermissionDenied, "a /chat/ socket has its room only");
  }
}

type ClientActor = Extract<Actor, { kind: "client" }>;

function clientDecision(actor: ClientActor, action: Action, ref: ServedChannel): Decision {
  if (ref.kind === "inbox") return clientInbox(actor, action, ref);
  if (ref.kind === "monitor") {
    if (action === "subscribe") return allow(ref);
    if (action === "publish") return deny(ErrorCode.PermissionDenied, "the monitor is written by the metrics service");
    if (action === "sub_refresh") return actor.subscribed ? allow(ref) : deny(ErrorCode.PermissionDenied, "not subscribed");
    return deny(ErrorCode.NotAvailable, "the monitor keeps no history and no presence");
  }
  const o = ref.namespace.options;
  if (action === "history_remove") return deny(ErrorCode.PermissionDenied, "only the server removes history");
  if (action === "sub_refresh") {
    // centrifuge: only a subscription renews itself; one the proxy renews is not renewed by the client.
    if (!actor.subscribed) return deny(ErrorCode.PermissionDenied, "not subscribed");
    if (o.sub_refresh_proxy_enabled) return deny(ErrorCode.BadRequest, "the namespace's proxy renews its subscriptions", DisconnectCode.BadRequest);
    return allow(ref);
  }
  if (!channelRegexMatches(ref)) return deny(ErrorCode.BadRequest, "the name does not match the namespace's channel_regex");
  const anonymousOk = (forAnonymous: boolean): boolean => actor.user !== "" || forAnonymous;
  switch (action) {
    case "subscribe": {
      if (ref.private && !actor.subscriptionToken) return deny(ErrorCode.PermissionDenied, "a $ channel needs a subscription token");
      if (actor.subscriptionToken) return allow(ref);
      if (ref.users !== undefined) {
        if (!o.allow_user_limited_channels) return deny(ErrorCode.PermissionDenied, "the namespace has no user-limited channels");
        return actor.user !== "" && ref.users.includes(actor.user) ? allow(ref) : deny(ErrorCode.PermissionDenied, "not one of the channel's users");
      }
      if (o.subscribe_proxy_enabled) return proxy("subscribe", ref);
      if (o.allow_subscribe_for_client && anonymousOk(o.allow_subscribe_for_anonymous)) return allow(ref);
      return deny(ErrorCode.PermissionDenied, "the namespace does not let this client subscribe");
    }
    case "publish": {
      if (o.publish_proxy_enabled) return proxy("publish", ref);
      if (o.allow_publish_for_client && anonymousOk(o.allow_publish_for_anonymous)) return allow(ref);
      if (o.allow_publish_for_subscriber && actor.subscribed && anonymousOk(o.allow_publish_for_anonymous)) return allow(ref);
      return deny(ErrorCode.PermissionDenied, "the namespace does not let this client publish");
    }
    case "history":
      if (!hasHistory(o)) return deny(ErrorCode.NotAvailable, "the namespace keeps no history");
      return historyAccess(o, actor.user, actor.subscribed) ? allow(ref) : deny(ErrorCode.PermissionDenied, "the namespace does not let this client read history");
    case "presence":
    case "presence_stats":
      if (!o.presence) return deny(ErrorCode.NotAvailable, "the namespace keeps no presence");
      return presenceAccess(o, actor.user, actor.subscribed) ? allow(ref) : deny(ErrorCode.PermissionDenied, "the namespace does not let this client read presence");
  }
}

function clientInbox(actor: ClientActor, action: Action, ref: Extract<ServedChannel, { kind: "inbox" }>): Decision {
  switch (action) {
    case "subscribe":
      return deny(ErrorCode.PermissionDenied, "#<user> is subscribed by the server at connect");
    case "publish":
      return deny(ErrorCode.PermissionDenied, "notifications are sent through the notifier");
    case "history":
      return actor.user !== "" && ref.userId === actor.user ? allow(ref) : deny(ErrorCode.PermissionDenied, "another user's inbox");
    case "presence":
    case "presence_stats":
      return deny(ErrorCode.NotAvailable, "an inbox keeps no presence");
    case "sub_refresh":
      return actor.subscribed ? allow(ref) : deny(ErrorCode.PermissionDenied, "not subscribed");
    case "history_remove":
      return deny(ErrorCode.PermissionDenied, "only the server removes history");
  }
}

function serverDecision(action: Action, ref: ServedChannel): Decision {
  const o = ref.kind === "namespace" ? ref.namespace.options : undefined;
  switch (action) {
    case "subscribe":
      return ref.kind === "inbox" ? deny(ErrorCode.PermissionDenied, "#<user> is subscribed by the server at connect") : allow(ref);
    case "publish":
      if (ref.kind === "inbox") return deny(ErrorCode.PermissionDenied, "notifications are sent through POST /notifications");
      if (ref.kind === "monitor") return deny(ErrorCode.PermissionDenied, "the monitor is written by the metrics service");
      return allow(ref);
    case "history":
      if (ref.kind === "inbox") return allow(ref);
      return o && hasHistory(o) ? allow(ref) : deny(ErrorCode.NotAvailable, "no history kept here");
    case "history_remove":
      if (ref.kind === "inbox") return deny(ErrorCode.PermissionDenied, "notifications are kept by the notifier");
      return o && hasHistory(o) ? allow(ref) : deny(ErrorCode.NotAvailable, "no history kept here");
    case "presence":
    case "presence_stats":
      return o?.presence ? allow(ref) : deny(ErrorCode.NotAvailable, "no presence kept here");
    case "sub_refresh":
      return o?.sub_refresh_proxy_enabled ? proxy("sub_refresh", ref) : deny(ErrorCode.NotAvailable, "no refresh proxy here");
  }
}

/** Centrifugo's history permission: any client, or a subscriber; anonymous ones only when also allowed. */
function historyAccess(o: ChannelOptions, user: string, subscribed: boolean): boolean {
  const anonymousOk = user !== "" || o.allow_history_for_anonymous;
  return (o.allow_history_for_client && anonymousOk) || (o.allow_history_for_subscriber && subscribed && anonymousOk);
}

/** Centrifugo's presence permission, likewise. */
function presenceAccess(o: ChannelOptions, user: string, subscribed: boolean): boolean {
  const anonymousOk = user !== "" || o.allow_presence_for_anonymous;
  return (o.allow_presence_for_client && anonymousOk) || (o.allow_presence_for_subscriber && subscribed && anonymousOk);
}

/** What a subscribe request asks for beyond the channel (the SDK's options). */
export interface SubscribeAsk {
  recoverable?: boolean | undefined;
  positioned?: boolean | undefined;
  join_leave?: boolean | undefined;
  /** The delta encoding asked for (`"fossil"`); an unknown one the caller refused already (isDeltaType). */
  delta?: string | undefined;
}

/** A subscription token's `override`: options that replace the namespace's for this subscription. */
export interface SubscriptionOverride {
  presence?: boolean;
  join_leave?: boolean;
  force_push_join_leave?: boolean;
  force_recovery?: boolean;
  force_positioning?: boolean;
}

/** How a granted subscription behaves. */
export interface SubscriptionFeatures {
  /** The subscriber counts in the channel's presence. */
  presence: boolean;
  /** Its joins and leaves are published to the channel. */
  emitJoinLeave: boolean;
  /** It gets the channel's join and leave pushes. */
  pushJoinLeave: boolean;
  /** Recoverable: its result carries `recoverable`, and a `recover` is served. */
  recovery: boolean;
  /** Positioned: its result carries the stream position (`offset`, `epoch`). */
  positioning: boolean;
  /** Fossil deltas: it asked for them and the namespace allows them (its result says `delta: true`). */
  delta: boolean;
}

const NOTHING: SubscriptionFeatures = Object.freeze({ presence: false, emitJoinLeave: false, pushJoinLeave: false, recovery: false, positioning: false, delta: false });

/** A delta encoding Centrifugo knows: a subscribe asking for another one is a bad request (close 3501). */
export const isDeltaType = (t: string): t is DeltaType => (DELTA_TYPES as readonly string[]).includes(t);

/**
 * What a subscription granted to `user` gets, as Centrifugo decides it: the namespace's `force_*`
 * options (or a subscription token's `override`), plus what the client asked for when the
 * namespace allows it or the client may read its history (recovery, positioning) or presence
 * (join/leave pushes). A channel without history is never recoverable or positioned, whatever is
 * asked: the ask is ignored, as Centrifugo does. Fossil deltas when asked and the namespace lists
 * them in `allowed_delta_types`. `#<user>` is always recoverable and positioned;
 * `system:monitor` is neither.
 */
export function subscriptionFeatures(user: string, channel: ServedChannel, asked: SubscribeAsk, override?: SubscriptionOverride): SubscriptionFeatures {
  if (channel.kind === "inbox") return { ...NOTHING, recovery: true, positioning: true };
  if (channel.kind === "monitor") return { ...NOTHING };
  return namespaceFeatures(user, channel.namespace, asked, override);
}

function namespaceFeatures(user: string, ns: Namespace, asked: SubscribeAsk, override: SubscriptionOverride | undefined): SubscriptionFeatures {
  const o = ns.options;
  const history = hasHistory(o);
  // Asked at subscribe time: the subscriber counts as subscribed (Centrifugo's forceSubscribed).
  const mayHistory = historyAccess(o, user, true);
  const joinLeave = override?.join_leave ?? o.join_leave;
  return {
    presence: override?.presence ?? o.presence,
    emitJoinLeave: joinLeave,
    pushJoinLeave: (override?.force_push_join_leave ?? o.force_push_join_leave) || (asked.join_leave === true && o.join_leave && presenceAccess(o, user, true)),
    recovery: history && ((override?.force_recovery ?? o.force_recovery) || (asked.recoverable === true && (o.allow_recovery || mayHistory))),
    positioning: history && ((override?.force_positioning ?? o.force_positioning) || (asked.positioned === true && (o.allow_positioning || mayHistory))),
    // As Centrifugo: a known type the namespace does not allow leaves the subscription without deltas, no error.
    delta: asked.delta !== undefined && isDeltaType(asked.delta) && o.allowed_delta_types.includes(asked.delta),
  };
}

/** The policy over one set of namespaces (loaded once at start-up). */
export class ChannelPolicy {
  constructor(readonly namespaces: ChannelNamespaces) {}

  /** What `name` is here (no permission asked). */
  resolve(name: string): ChannelName {
    return resolveChannel(name, this.namespaces);
  }

  /** May `actor` do `action` on `channel` (a name, or one already resolved here)? */
  check(actor: Actor, action: Action, channel: string | ChannelName): Decision {
    return checkChannel(this.namespaces, actor, action, channel);
  }

  /** How a subscription granted to `user` behaves (see subscriptionFeatures). */
  features(user: string, channel: ServedChannel, asked: SubscribeAsk, override?: SubscriptionOverride): SubscriptionFeatures {
    return subscriptionFeatures(user, channel, asked, override);
  }
}
