import { expect, test } from "bun:test";
import { channelRegexMatches, defaultNamespaces, parseChannelsFile, resolveChannel, type ChannelName, type ChannelNamespaces } from "../src/channels/index.ts";

const history = { size: 100, ttlMs: 86_400_000 };

function load(channel: object): ChannelNamespaces {
  const r = parseChannelsFile(JSON.stringify({ channel }), history);
  if (!r.ok) throw new Error(r.problems.join("\n"));
  return r.namespaces;
}

/** A resolved name, without the namespace object (its name instead), for tables. */
function brief(ref: ChannelName): Record<string, unknown> {
  if (ref.kind !== "namespace") return ref.kind === "invalid" ? { kind: "invalid" } : { ...ref };
  const { namespace, ...rest } = ref;
  return { ...rest, namespace: namespace.name };
}

const builtIn = defaultNamespaces(history);
const app = load({
  without_namespace: { allow_subscribe_for_client: true },
  namespaces: [{ name: "dm", allow_user_limited_channels: true }, { name: "news" }, { name: "orders", channel_regex: "^[0-9]+$" }, { name: "chat", history_size: 5, history_ttl: "60s" }],
});

test.each<[string, ChannelNamespaces, Record<string, unknown>]>([
  // built in: what parseChannel always answered
  ["chat:lobby", builtIn, { kind: "namespace", channel: "chat:lobby", namespace: "chat", rest: "lobby", private: false, users: undefined, room: "lobby" }],
  ["#alice", builtIn, { kind: "inbox", channel: "#alice", userId: "alice" }],
  ["#用户", builtIn, { kind: "inbox", channel: "#用户", userId: "用户" }],
  ["system:monitor", builtIn, { kind: "monitor", channel: "system:monitor" }],
  ["system:other", builtIn, { kind: "unknown", channel: "system:other" }],
  ["news:1", builtIn, { kind: "unknown", channel: "news:1" }],
  ["lobby", builtIn, { kind: "unknown", channel: "lobby" }],
  [":x", builtIn, { kind: "unknown", channel: ":x" }],
  ["$chat:lobby", builtIn, { kind: "unknown", channel: "$chat:lobby" }],
  ["chat:", builtIn, { kind: "invalid" }],
  ["chat:a.b", builtIn, { kind: "invalid" }],
  ["chat:a#b", builtIn, { kind: "invalid" }],
  [`chat:${"x".repeat(65)}`, builtIn, { kind: "invalid" }],
  ["", builtIn, { kind: "invalid" }],
  ["y".repeat(301), builtIn, { kind: "invalid" }],
  // configured namespaces
  ["news:1", app, { kind: "namespace", channel: "news:1", namespace: "news", rest: "1", private: false, users: undefined, room: undefined }],
  ["news:a:b", app, { kind: "namespace", channel: "news:a:b", namespace: "news", rest: "a:b", private: false, users: undefined, room: undefined }],
  ["lobby", app, { kind: "namespace", channel: "lobby", namespace: "", rest: "lobby", private: false, users: undefined, room: undefined }],
  ["$secret", app, { kind: "namespace", channel: "$secret", namespace: "", rest: "$secret", private: true, users: undefined, room: undefined }],
  ["$news:x", app, { kind: "namespace", channel: "$news:x", namespace: "news", rest: "x", private: true, users: undefined, room: undefined }],
  ["dm:talk#alice,bob", app, { kind: "namespace", channel: "dm:talk#alice,bob", namespace: "dm", rest: "talk#alice,bob", private: false, users: ["alice", "bob"], room: undefined }],
  ["dm:#alice", app, { kind: "namespace", channel: "dm:#alice", namespace: "dm", rest: "#alice", private: false, users: ["alice"], room: undefined }],
  ["news:x#carol", app, { kind: "namespace", channel: "news:x#carol", namespace: "news", rest: "x#carol", private: false, users: ["carol"], room: undefined }],
  ["chat:room_1", app, { kind: "namespace", channel: "chat:room_1", namespace: "chat", rest: "room_1", private: false, users: undefined, room: "room_1" }],
  ["other:x", app, { kind: "unknown", channel: "other:x" }],
  ["system:other", app, { kind: "unknown", channel: "system:other" }],
  ["dm:talk#alice,", app, { kind: "invalid" }],
  ["dm:talk#alice#bob", app, { kind: "invalid" }],
  ["dm:a,b#alice", app, { kind: "invalid" }],
  ["news:a,b", app, { kind: "invalid" }],
  ["news:", app, { kind: "invalid" }],
  ["news:a b", app, { kind: "invalid" }],
  ["news:é", app, { kind: "invalid" }],
  ["news:a\u0000", app, { kind: "invalid" }],
  [`news:${"x".repeat(250)}`, app, { kind: "namespace", channel: `news:${"x".repeat(250)}`, namespace: "news", rest: "x".repeat(250), private: false, users: undefined, room: undefined }],
  [`news:${"x".repeat(251)}`, app, { kind: "invalid" }],
  [`other:${"x".repeat(260)}`, app, { kind: "unknown", channel: `other:${"x".repeat(260)}` }],
])("%p", (name, namespaces, expected) => {
  expect(brief(resolveChannel(name, namespaces))).toEqual(expected);
});

test("channel_regex is matched against the name after the namespace, as Centrifugo does", () => {
  const ok = resolveChannel("orders:42", app);
  const bad = resolveChannel("orders:x42", app);
  const none = resolveChannel("news:anything", app);
  if (ok.kind !== "namespace" || bad.kind !== "namespace" || none.kind !== "namespace") throw new Error("not resolved");
  expect([channelRegexMatches(ok), channelRegexMatches(bad), channelRegexMatches(none)]).toEqual([true, false, true]);
});
