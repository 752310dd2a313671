import { describe, expect, test } from "bun:test";
import {
  ChannelPolicy, defaultNamespaces, readChannels,
  type Action, type Actor, type ChannelNamespaces, type Decision, type ServedChannel, type SubscribeAsk, type SubscriptionOverride,
} from "../src/channels/index.ts";

const history = { size: 100, ttlMs: 86_400_000 };

/** A decision as a table writes it: "allow", "proxy:<kind>", the error code, or "close <code>". */
function outcome(d: Decision): string | number {
  switch (d.kind) {
    case "allow":
      return "allow";
    case "proxy":
      return `proxy:${d.proxy}`;
    case "deny":
      return d.disconnect ? `close ${d.disconnect.code}` : d.code;
  }
}

const alice = (subscribed: boolean, subscriptionToken = false): Actor => ({ kind: "client", user: "alice", subscribed, subscriptionToken });
const anon = (subscribed: boolean, subscriptionToken = false): Actor => ({ kind: "client", user: "", subscribed, subscriptionToken });
const carol = (subscribed: boolean): Actor => ({ kind: "client", user: "carol", subscribed });
const server: Actor = { kind: "server" };
const roomSocket: Actor = { kind: "room-socket" };

type Row = [who: string, actor: Actor, action: Action, channel: string, expected: string | number];

function run(namespaces: ChannelNamespaces, rows: Row[]): void {
  const policy = new ChannelPolicy(namespaces);
  test.each(rows)("%s %s %s %s -> %p", (_who, actor, action, channel, expected) => {
    expect(outcome(policy.check(actor, action, channel))).toBe(expected);
  });
}

describe("the built-in default is today's behaviour (docs/websocket.md, the channel table and the error codes)", () => {
  const A = "alice";
  const S = "alice subscribed";
  const N = "anonymous";
  const NS = "anonymous subscribed";
  run(defaultNamespaces(history), [
    // chat:<room>: every connected client subscribes (anonymous ones too); subscribers publish and read presence; anyone reads history
    [A, alice(false), "subscribe", "chat:lobby", "allow"],
    [N, anon(false), "subscribe", "chat:lobby", "allow"],
    [S, alice(true), "publish", "chat:lobby", "allow"],
    [NS, anon(true), "publish", "chat:lobby", "allow"],
    [A, alice(false), "publish", "chat:lobby", 103],
    [N, anon(false), "publish", "chat:lobby", 103],
    [A, alice(false), "history", "chat:lobby", "allow"],
    [N, anon(false), "history", "chat:lobby", "allow"],
    [S, alice(true), "presence", "chat:lobby", "allow"],
    [NS, anon(true), "presence_stats", "chat:lobby", "allow"],
    [A, alice(false), "presence", "chat:lobby", 103],
    [A, alice(false), "presence_stats", "chat:lobby", 103],
    [S, alice(true), "sub_refresh", "chat:lobby", "allow"],
    [A, alice(false), "sub_refresh", "chat:lobby", 103],
    // names: 107 for a room id /chat/ would refuse, 102 for any other namespace (and names without one)
    [A, alice(false), "subscribe", "chat:a.b", 107],
    [A, alice(false), "publish", "chat:", 107],
    [A, alice(false), "history", "x".repeat(301), 107],
    [A, alice(false), "subscribe", "news:1", 102],
    [A, alice(false), "publish", "lobby", 102],
    [A, alice(false), "history", "system:other", 102],
    [A, alice(false), "presence", "$chat:lobby", 102],
    // #<user>: subscribed by the server at connect; its user reads its history; nobody publishes; no presence
    [S, alice(true), "subscribe", "#alice", 103],
    [A, alice(false), "subscribe", "#bob", 103],
    [S, alice(true), "publish", "#alice", 103],
    [A, alice(false), "history", "#alice", "allow"],
    [A, alice(false), "history", "#bob", 103],
    [N, anon(false), "history", "#alice", 103],
    [S, alice(true), "presence", "#alice", 108],
    [A, alice(false), "presence_stats", "#bob", 108],
    [S, alice(true), "sub_refresh", "#alice", "allow"],
    [A, alice(false), "subscribe", "#", 107],
    // system:monitor: every client subscribes; nobody publishes; no history, no presence
    [A, alice(false), "subscribe", "system:monitor", "allow"],
    [N, anon(false), "subscribe", "system:monitor", "allow"],
    [S, alice(true), "publish", "system:monitor", 103],
    [S, alice(true), "history", "system:monitor", 108],
    [S, alice(true), "presence", "system:monitor", 108],
    [S, alice(true), "presence_stats", "system:monitor", 108],
    // the server API: publishes into rooms only; reads every history there is and room presence
    ["server", server, "publish", "chat:lobby", "allow"],
    ["server", server, "publish", "#alice", 103],
    ["server", server, "publish", "system:monitor", 103],
    ["server", server, "publish", "news:1", 102],
    ["server", server, "publish", "chat:a.b", 107],
    ["server", server, "history", "chat:lobby", "allow"],
    ["server", server, "history", "#alice", "allow"],
    ["server", server, "history", "system:monitor", 108],
    ["server", server, "presence", "chat:lobby", "allow"],
    ["server", server, "presence_stats", "#alice", 108],
    ["server", server, "presence", "system:monitor", 108],
    ["server", server, "subscribe", "chat:lobby", "allow"],
    ["server", server, "subscribe", "system:monitor", "allow"],
    ["server", server, "subscribe", "#bob", 103],
    ["server", server, "sub_refresh", "chat:lobby", 108],
    ["server", server, "history_remove", "chat:lobby", "allow"],
    ["server", server, "history_remove", "#alice", 103],
    ["server", server, "history_remove", "system:monitor", 108],
    ["server", server, "history_remove", "news:1", 102],
    [A, alice(false), "history_remove", "chat:lobby", 103],
    [A, alice(false), "history_remove", "#alice", 103],
    [A, alice(false), "history_remove", "system:monitor", 108],
    // a /chat/{room} socket: its room, to read and write
    ["/chat/ socket", roomSocket, "subscribe", "chat:lobby", "allow"],
    ["/chat/ socket", roomSocket, "publish", "chat:lobby", "allow"],
    ["/chat/ socket", roomSocket, "history", "chat:lobby", 103],
    ["/chat/ socket", roomSocket, "subscribe", "system:monitor", 103],
  ]);
});

/** Namespaces from a file's `channel` section (which must load). */
function file(channel: object): ChannelNamespaces {
  const r = readChannels({ channel }, history);
  if (!r.ok) throw new Error(r.problems.join("\n"));
  return r.namespaces;
}
const H = { history_size: 10, history_ttl: "60s" };

describe("subscribe: allow_subscribe_for_client, allow_subscribe_for_anonymous", () => {
  run(file({ namespaces: [{ name: "off" }, { name: "client", allow_subscribe_for_client: true }, { name: "anon", allow_subscribe_for_anonymous: true }, { name: "both", allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true }] }), [
    ["alice", alice(false), "subscribe", "off:x", 103],
    ["anonymous", anon(false), "subscribe", "off:x", 103],
    ["alice", alice(false), "subscribe", "client:x", "allow"],
    ["anonymous", anon(false), "subscribe", "client:x", 103],
    ["alice", alice(false), "subscribe", "anon:x", 103], // _for_anonymous adds to _for_client, never alone
    ["anonymous", anon(false), "subscribe", "anon:x", 103],
    ["alice", alice(false), "subscribe", "both:x", "allow"],
    ["anonymous", anon(false), "subscribe", "both:x", "allow"],
    ["server", server, "subscribe", "off:x", "allow"],
    ["alice with a subscription token", alice(false, true), "subscribe", "off:x", "allow"],
    ["anonymous with a subscription token", anon(false, true), "subscribe", "off:x", "allow"],
  ]);
});

describe("publish: allow_publish_for_subscriber, allow_publish_for_client, allow_publish_for_anonymous", () => {
  run(file({ namespaces: [{ name: "off" }, { name: "sub", allow_publish_for_subscriber: true }, { name: "client", allow_publish_for_client: true }, { name: "subanon", allow_publish_for_subscriber: true, allow_publish_for_anonymous: true }, { name: "clientanon", allow_publish_for_client: true, allow_publish_for_anonymous: true }, { name: "anon", allow_publish_for_anonymous: true }] }), [
    ["alice subscribed", alice(true), "publish", "off:x", 103],
    ["alice subscribed", alice(true), "publish", "sub:x", "allow"],
    ["alice", alice(false), "publish", "sub:x", 103],
    ["anonymous subscribed", anon(true), "publish", "sub:x", 103],
    ["anonymous subscribed", anon(true), "publish", "subanon:x", "allow"],
    ["anonymous", anon(false), "publish", "subanon:x", 103],
    ["alice", alice(false), "publish", "client:x", "allow"],
    ["anonymous", anon(false), "publish", "client:x", 103],
    ["anonymous", anon(false), "publish", "clientanon:x", "allow"],
    ["anonymous subscribed", anon(true), "publish", "anon:x", 103],
    ["server", server, "publish", "off:x", "allow"],
  ]);
});

describe("history: history_size and history_ttl, allow_history_for_subscriber/_client/_anonymous; 108 comes before 103", () => {
  run(file({ namespaces: [{ name: "none", allow_history_for_client: true }, { name: "closed", ...H }, { name: "sub", ...H, allow_history_for_subscriber: true }, { name: "client", ...H, allow_history_for_client: true }, { name: "anon", ...H, allow_history_for_subscriber: true, allow_history_for_client: true, allow_history_for_anonymous: true }] }), [
    ["alice", alice(false), "history", "none:x", 108],
    ["anonymous", anon(false), "history", "none:x", 108], // not available, though not permitted either: 108 first
    ["server", server, "history", "none:x", 108],
    ["alice subscribed", alice(true), "history", "closed:x", 103],
    ["server", server, "history", "closed:x", "allow"],
    ["alice subscribed", alice(true), "history", "sub:x", "allow"],
    ["alice", alice(false), "history", "sub:x", 103],
    ["anonymous subscribed", anon(true), "history", "sub:x", 103],
    ["alice", alice(false), "history", "client:x", "allow"],
    ["anonymous", anon(false), "history", "client:x", 103],
    ["anonymous", anon(false), "history", "anon:x", "allow"],
    // history_remove: the server API only, on channels with history
    ["server", server, "history_remove", "closed:x", "allow"],
    ["server", server, "history_remove", "none:x", 108],
    ["alice subscribed", alice(true), "history_remove", "anon:x", 103],
    ["anonymous subscribed", anon(true), "history_remove", "anon:x", 103],
  ]);
});

describe("presence: presence, allow_presence_for_subscriber/_client/_anonymous; 108 comes before 103", () => {
  run(file({ namespaces: [{ name: "none", allow_presence_for_client: true }, { name: "closed", presence: true }, { name: "sub", presence: true, allow_presence_for_subscriber: true }, { name: "client", presence: true, allow_presence_for_client: true }, { name: "anon", presence: true, allow_presence_for_subscriber: true, allow_presence_for_anonymous: true }] }), [
    ["alice", alice(false), "presence", "none:x", 108],
    ["anonymous", anon(false), "presence_stats", "none:x", 108],
    ["server", server, "presence", "none:x", 108],
    ["alice subscribed", alice(true), "presence", "closed:x", 103],
    ["server", server, "presence_stats", "closed:x", "allow"],
    ["alice subscribed", alice(true), "presence", "sub:x", "allow"],
    ["alice", alice(false), "presence_stats", "sub:x", 103],
    ["anonymous subscribed", anon(true), "presence", "sub:x", 103],
    ["alice", alice(false), "presence", "client:x", "allow"],
    ["anonymous", anon(false), "presence", "client:x", 103],
    ["anonymous subscribed", anon(true), "presence_stats", "anon:x", "allow"],
    ["anonymous", anon(false), "presence", "anon:x", 103],
  ]);
});

describe("allow_user_limited_channels: dm:talk#alice,bob is open to alice and bob only; # without the option is refused", () => {
  run(file({ namespaces: [{ name: "dm", allow_user_limited_channels: true, allow_publish_for_subscriber: true }, { name: "open", allow_subscribe_for_client: true }, { name: "proxied", allow_user_limited_channels: true, subscribe_proxy_enabled: true }] }), [
    ["alice", alice(false), "subscribe", "dm:talk#alice,bob", "allow"],
    ["carol", carol(false), "subscribe", "dm:talk#alice,bob", 103],
    ["anonymous", anon(false), "subscribe", "dm:talk#alice,bob", 103],
    ["carol with a subscription token", { kind: "client", user: "carol", subscribed: false, subscriptionToken: true }, "subscribe", "dm:talk#alice,bob", "allow"],
    ["alice subscribed", alice(true), "publish", "dm:talk#alice,bob", "allow"],
    ["alice", alice(false), "subscribe", "open:talk#alice", 103], // the namespace has no user-limited channels, though it is open
    ["alice", alice(false), "subscribe", "open:talk", "allow"],
    ["alice", alice(false), "subscribe", "proxied:talk#alice", "allow"], // a listed user needs no proxy
    ["carol", carol(false), "subscribe", "proxied:talk#alice", 103],
    ["alice", alice(false), "subscribe", "proxied:talk", "proxy:subscribe"],
    ["alice", alice(false), "subscribe", "dm:talk#alice,", 107],
  ]);
});

describe("channel_regex binds clients (107), not the server API", () => {
  run(file({ namespaces: [{ name: "orders", channel_regex: "^[0-9]+$", ...H, presence: true, allow_subscribe_for_client: true, allow_publish_for_client: true, allow_history_for_client: true, allow_presence_for_client: true }] }), [
    ["alice", alice(false), "subscribe", "orders:42", "allow"],
    ["alice", alice(false), "subscribe", "orders:x42", 107],
    ["alice", alice(false), "publish", "orders:x42", 107],
    ["alice", alice(false), "history", "orders:x42", 107],
    ["alice", alice(false), "presence", "orders:x42", 107],
    ["alice subscribed", alice(true), "sub_refresh", "orders:x42", "allow"],
    ["server", server, "publish", "orders:x42", "allow"],
    ["server", server, "history", "orders:x42", "allow"],
  ]);
});

describe("proxies: subscribe_proxy_enabled, publish_proxy_enabled, sub_refresh_proxy_enabled", () => {
  run(file({ namespaces: [{ name: "sp", subscribe_proxy_enabled: true, allow_subscribe_for_client: true }, { name: "pp", publish_proxy_enabled: true, allow_publish_for_client: true }, { name: "rp", sub_refresh_proxy_enabled: true }, { name: "plain" }] }), [
    ["alice", alice(false), "subscribe", "sp:x", "proxy:subscribe"], // the proxy answers instead of allow_subscribe_for_client
    ["anonymous", anon(false), "subscribe", "sp:x", "proxy:subscribe"],
    ["alice with a subscription token", alice(false, true), "subscribe", "sp:x", "allow"],
    ["alice", alice(false), "publish", "pp:x", "proxy:publish"],
    ["anonymous", anon(false), "publish", "pp:x", "proxy:publish"],
    ["server", server, "publish", "pp:x", "allow"],
    ["alice subscribed", alice(true), "sub_refresh", "rp:x", "close 3501"], // the proxy renews it: a client's sub_refresh is a protocol error
    ["alice", alice(false), "sub_refresh", "rp:x", 103],
    ["server", server, "sub_refresh", "rp:x", "proxy:sub_refresh"],
    ["alice subscribed", alice(true), "sub_refresh", "plain:x", "allow"],
    ["server", server, "sub_refresh", "plain:x", 108],
  ]);
});

describe("$ channels need a subscription token; without_namespace serves names without one", () => {
  run(file({ without_namespace: { allow_subscribe_for_client: true }, namespaces: [{ name: "news", allow_subscribe_for_client: true }] }), [
    ["alice", alice(false), "subscribe", "lobby", "allow"],
    ["alice", alice(false), "subscribe", "$lobby", 103],
    ["alice with a subscription token", alice(false, true), "subscribe", "$lobby", "allow"],
    ["alice", alice(false), "subscribe", "$news:x", 103],
    ["alice with a subscription token", alice(false, true), "subscribe", "$news:x", "allow"],
    ["alice", alice(false), "subscribe", "other:x", 102],
  ]);
});

describe("a file's chat applies to protocol clients; /chat/ sockets keep their endpoint's rules", () => {
  run(file({ namespaces: [{ name: "chat" }] }), [
    ["alice", alice(false), "subscribe", "chat:lobby", 103],
    ["alice subscribed", alice(true), "publish", "chat:lobby", 103],
    ["alice", alice(false), "history", "chat:lobby", 108],
    ["/chat/ socket", roomSocket, "subscribe", "chat:lobby", "allow"],
    ["/chat/ socket", roomSocket, "publish", "chat:lobby", "allow"],
    ["alice", alice(false), "subscribe", "chat:a.b", 107],
    ["alice", alice(false), "subscribe", "system:monitor", "allow"],
    ["alice", alice(false), "history", "#alice", "allow"],
  ]);
});

test("delta options are carried, not decided: they change no permission", () => {
  const plain = new ChannelPolicy(file({ namespaces: [{ name: "d", allow_subscribe_for_client: true }] }));
  const delta = new ChannelPolicy(file({ namespaces: [{ name: "d", allow_subscribe_for_client: true, allowed_delta_types: ["fossil"], delta_publish: true }] }));
  for (const action of ["subscribe", "publish", "history", "presence", "presence_stats", "sub_refresh"] as const) {
    expect(outcome(delta.check(alice(true), action, "d:x"))).toBe(outcome(plain.check(alice(true), action, "d:x")));
  }
  const ref = delta.resolve("d:x");
  expect(ref.kind === "namespace" && ref.namespace.options.allowed_delta_types).toEqual(["fossil"]);
  expect(ref.kind === "namespace" && ref.namespace.options.delta_publish).toBe(true);
});

describe("what a granted subscription gets: force_recovery, allow_recovery, force_positioning, allow_positioning, presence, join_leave, force_push_join_leave, allowed_delta_types", () => {
  const ns = file({
    namespaces: [
      { name: "forced", ...H, force_recovery: true, force_positioning: true, presence: true, join_leave: true, force_push_join_leave: true },
      { name: "allowed", ...H, allow_recovery: true, allow_positioning: true, presence: true, join_leave: true },
      { name: "byhistory", ...H, allow_history_for_subscriber: true, join_leave: true, allow_presence_for_subscriber: true },
      { name: "nohistory", allow_recovery: true, allow_positioning: true, allow_history_for_client: true },
      { name: "plain", ...H },
      { name: "deltas", allowed_delta_types: ["fossil"] },
    ],
  });
  const policy = new ChannelPolicy(ns);
  const served = (name: string): ServedChannel => {
    const ref = policy.resolve(name);
    if (ref.kind === "unknown" || ref.kind === "invalid") throw new Error(name);
    return ref;
  };
  const all: SubscribeAsk = { recoverable: true, positioned: true, join_leave: true };
  const rows: Array<[string, string, SubscribeAsk, SubscriptionOverride | undefined, object]> = [
    ["alice", "forced:x", {}, undefined, { presence: true, emitJoinLeave: true, pushJoinLeave: true, recovery: true, positioning: true }],
    ["alice", "forced:x", {}, { force_recovery: false, force_push_join_leave: false, presence: false }, { presence: false, emitJoinLeave: true, pushJoinLeave: false, recovery: false, positioning: true }],
    ["alice", "allowed:x", {}, undefined, { presence: true, emitJoinLeave: true, pushJoinLeave: false, recovery: false, positioning: false }],
    ["alice", "allowed:x", all, undefined, { presence: true, emitJoinLeave: true, pushJoinLeave: false, recovery: true, positioning: true }], // join/leave pushes need presence access
    ["alice", "byhistory:x", all, undefined, { presence: false, emitJoinLeave: true, pushJoinLeave: true, recovery: true, positioning: true }],
    ["", "byhistory:x", all, undefined, { presence: false, emitJoinLeave: true, pushJoinLeave: false, recovery: false, positioning: false }], // anonymous: no history or presence access
    ["alice", "nohistory:x", all, undefined, { presence: false, emitJoinLeave: false, pushJoinLeave: false, recovery: false, positioning: false }], // asked on a channel without history: ignored
    ["alice", "plain:x", all, undefined, { presence: false, emitJoinLeave: false, pushJoinLeave: false, recovery: false, positioning: false }],
    ["alice", "plain:x", {}, { force_recovery: true, join_leave: true }, { presence: false, emitJoinLeave: true, pushJoinLeave: false, recovery: true, positioning: false }],
    // built in: rooms are always recoverable and positioned; join/leave pushes for those who ask, anonymous ones too
    ["alice", "chat:lobby", {}, undefined, { presence: true, emitJoinLeave: true, pushJoinLeave: false, recovery: true, positioning: true }],
    ["", "chat:lobby", { join_leave: true }, undefined, { presence: true, emitJoinLeave: true, pushJoinLeave: true, recovery: true, positioning: true }],
    ["alice", "#alice", all, undefined, { presence: false, emitJoinLeave: false, pushJoinLeave: false, recovery: true, positioning: true }],
    ["alice", "system:monitor", all, undefined, { presence: false, emitJoinLeave: false, pushJoinLeave: false, recovery: false, positioning: false }],
    // deltas: asked and allowed; a known type the namespace does not allow is ignored, as Centrifugo does
    ["alice", "deltas:x", { delta: "fossil" }, undefined, { presence: false, emitJoinLeave: false, pushJoinLeave: false, recovery: false, positioning: false, delta: true }],
    ["", "deltas:x", { delta: "fossil" }, undefined, { presence: false, emitJoinLeave: false, pushJoinLeave: false, recovery: false, positioning: false, delta: true }],
    ["alice", "deltas:x", { delta: "" }, undefined, { presence: false, emitJoinLeave: false, pushJoinLeave: false, recovery: false, positioning: false }],
    ["alice", "plain:x", { delta: "fossil" }, undefined, { presence: false, emitJoinLeave: false, pushJoinLeave: false, recovery: false, positioning: false }],
    ["alice", "chat:lobby", { delta: "fossil" }, undefined, { presence: true, emitJoinLeave: true, pushJoinLeave: false, recovery: true, positioning: true }],
    ["alice", "#alice", { delta: "fossil" }, undefined, { presence: false, emitJoinLeave: false, pushJoinLeave: false, recovery: true, positioning: true }],
  ];
  for (const [user, channel, asked, override, expected] of rows) {
    test(`${JSON.stringify(user)} on ${channel} asking ${JSON.stringify(asked)}${override ? `, token override ${JSON.stringify(override)}` : ""}`, () => {
      expect(policy.features(user, served(channel), asked, override)).toEqual({ delta: false, ...expected } as ReturnType<typeof policy.features>);
    });
  }
});
