// docs/channels.md, read from the page itself: its option table names every option served and no
// other, and each configuration loads as the page shows it and does what the page says it does
// (the policy's answers), so the page cannot rot.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ChannelPolicy, OPTIONS, parseChannelsFile, type Action, type Actor, type ChannelNamespaces, type Decision, type SubscribeAsk } from "../src/channels/index.ts";

const PAGE = readFileSync(join(import.meta.dir, "../../../docs/channels.md"), "utf8");
const history = { size: 100, ttlMs: 86_400_000 };

/** The ```json blocks of the page's section `heading` (up to the next heading of the same level or higher), in order. */
function jsonBlocks(heading: string): string[] {
  const level = heading.match(/^#+/)![0].length;
  const start = `\n${PAGE}`.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`docs/channels.md has no "${heading}"`);
  const rest = PAGE.slice(start + heading.length + 1);
  const end = rest.search(new RegExp(`^#{1,${level}} `, "m"));
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/^```json\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

/** The example under `heading` (one ```json block), loaded as the gateways load a CHANNELS_FILE. */
function example(heading: string): ChannelPolicy {
  const blocks = jsonBlocks(heading);
  expect(blocks).toHaveLength(1);
  const r = parseChannelsFile(blocks[0]!, history);
  if (!r.ok) throw new Error(`${heading}: ${r.problems.join("; ")}`);
  return new ChannelPolicy(r.namespaces as ChannelNamespaces);
}

const client = (user: string, subscribed = false, subscriptionToken = false): Actor => ({ kind: "client", user, subscribed, subscriptionToken });
const server: Actor = { kind: "server" };

/** A decision as the page writes it: "allow", or the error code. */
function outcome(d: Decision): string | number {
  if (d.kind === "allow") return "allow";
  if (d.kind === "proxy") return `proxy:${d.proxy}`;
  return d.disconnect ? `close ${d.disconnect.code}` : d.code;
}

type Row = [who: string, actor: Actor, action: Action, channel: string, expected: string | number];

function decides(policy: () => ChannelPolicy, rows: Row[]): void {
  const named = rows.map(([who, actor, action, channel, expected]) => [who, action, channel, expected, actor] as const);
  test.each(named)("%s: %s %s -> %p", (_who, action, channel, expected, actor) => {
    expect(outcome(policy().check(actor, action, channel))).toBe(expected);
  });
}

/** What a subscription granted to `user` on `channel` gets, when it asks for `asked`. */
function features(policy: ChannelPolicy, user: string, channel: string, asked: SubscribeAsk = {}) {
  const d = policy.check(client(user), "subscribe", channel);
  const resolved = d.kind === "deny" ? policy.resolve(channel) : d.channel;
  if (resolved.kind === "unknown" || resolved.kind === "invalid") throw new Error(`${channel} is ${resolved.kind}`);
  return policy.features(user, resolved, asked);
}

test("the option table names every option served, and only those", () => {
  const start = PAGE.indexOf("\n## The options\n");
  const section = PAGE.slice(start, PAGE.indexOf("\n## ", start + 1));
  const named = section.split("\n").filter((l) => l.startsWith("| `")).flatMap((row) => [...row.split("|")[1]!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!));
  expect(named.filter((k) => !Object.hasOwn(OPTIONS, k))).toEqual([]);
  expect(Object.keys(OPTIONS).filter((k) => !named.includes(k))).toEqual([]);
});

test("the page has the four examples, each one configuration", () => {
  expect(jsonBlocks("## Four examples")).toHaveLength(4);
});

describe("the page's first file (orders)", () => {
  const blocks = jsonBlocks("# Channels an application defines (`CHANNELS_FILE`)");
  const policy = () => {
    const r = parseChannelsFile(blocks[0]!, history);
    if (!r.ok) throw new Error(r.problems.join("; "));
    return new ChannelPolicy(r.namespaces);
  };
  decides(policy, [
    ["alice", client("alice"), "subscribe", "orders:42", "allow"],
    ["alice subscribed", client("alice", true), "publish", "orders:42", "allow"],
    ["alice", client("alice"), "publish", "orders:42", 103],
    ["alice subscribed", client("alice", true), "history", "orders:42", "allow"],
    ["alice subscribed", client("alice", true), "presence", "orders:42", "allow"],
  ]);
});

describe("public news, written only by the server", () => {
  const policy = () => example("### Public news, written only by the server");
  decides(policy, [
    // "Every client, signed in or not, subscribes to news:today and reads its history"
    ["alice", client("alice"), "subscribe", "news:today", "allow"],
    ["anonymous", client(""), "subscribe", "news:today", "allow"],
    ["alice", client("alice"), "history", "news:today", "allow"],
    ["anonymous", client(""), "history", "news:today", "allow"],
    // "a client's publish there is 103"
    ["alice subscribed", client("alice", true), "publish", "news:today", 103],
    ["anonymous subscribed", client("", true), "publish", "news:today", 103],
    // "the backend publishes"
    ["server", server, "publish", "news:today", "allow"],
  ]);
  test("a reader back from a tunnel recovers what it missed, signed in or not", () => {
    expect(features(policy(), "alice", "news:today").recovery).toBe(true);
    expect(features(policy(), "", "news:today").recovery).toBe(true);
  });
});

describe("a private board with subscription tokens", () => {
  const policy = () => example("### A private board with subscription tokens");
  decides(policy, [
    // "No client subscribes to board:<id> by itself"
    ["alice", client("alice"), "subscribe", "board:q4-plans", 103],
    ["alice with a token", client("alice", false, true), "subscribe", "board:q4-plans", "allow"],
    // "Members publish and see each other in presence"
    ["alice subscribed", client("alice", true), "publish", "board:q4-plans", "allow"],
    ["alice subscribed", client("alice", true), "presence", "board:q4-plans", "allow"],
    ["alice subscribed", client("alice", true), "history", "board:q4-plans", "allow"],
    ["carol", client("carol"), "publish", "board:q4-plans", 103],
    ["carol", client("carol"), "presence", "board:q4-plans", 103],
    ["carol", client("carol"), "history", "board:q4-plans", 103],
  ]);
  test("a member that asks (joinLeave: true) gets joins and leaves, and counts in presence", () => {
    expect(features(policy(), "alice", "board:q4-plans", { join_leave: true })).toMatchObject({ presence: true, emitJoinLeave: true, pushJoinLeave: true, recovery: true });
  });
});

describe("direct messages between two users", () => {
  const policy = () => example("### Direct messages between two users");
  decides(policy, [
    // "alice and bob both subscribe to dm:chat#alice,bob ... nobody else may (103), anonymous connections neither, and no token is needed"
    ["alice", client("alice"), "subscribe", "dm:chat#alice,bob", "allow"],
    ["bob", client("bob"), "subscribe", "dm:chat#alice,bob", "allow"],
    ["carol", client("carol"), "subscribe", "dm:chat#alice,bob", 103],
    ["anonymous", client(""), "subscribe", "dm:chat#alice,bob", 103],
    // "Both publish; history keeps a month"
    ["alice subscribed", client("alice", true), "publish", "dm:chat#alice,bob", "allow"],
    ["bob subscribed", client("bob", true), "history", "dm:chat#alice,bob", "allow"],
    ["carol", client("carol"), "publish", "dm:chat#alice,bob", 103],
  ]);
});

describe("an anonymous lobby", () => {
  const policy = () => example("### An anonymous lobby");
  decides(policy, [
    // "a client without a token connects as user "", subscribes to lobby:main, talks and sees who is there"
    ["anonymous", client(""), "subscribe", "lobby:main", "allow"],
    ["anonymous subscribed", client("", true), "publish", "lobby:main", "allow"],
    ["anonymous subscribed", client("", true), "presence", "lobby:main", "allow"],
    ["alice subscribed", client("alice", true), "publish", "lobby:main", "allow"],
    // "No history"
    ["anonymous subscribed", client("", true), "history", "lobby:main", 108],
  ]);
  test("everyone gets joins and leaves without asking; nothing is recoverable", () => {
    expect(features(policy(), "", "lobby:main", { recoverable: true })).toMatchObject({ presence: true, pushJoinLeave: true, recovery: false, positioning: false });
  });
});
