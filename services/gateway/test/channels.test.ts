// Channels an application defines (CHANNELS_FILE): each option group against two real gateways
// sharing one nats-server, a notifier (the server API) and the official SDK.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import { ROOMS_STREAM, channelStoreWildcard, namespaceStream, roomMaxMessageSize } from "@rt/protocol";
import { NATS_ADMIN, SdkClient, TestSocket, TestSystem, signToken, waitFor } from "@rt/testkit";

const H = (size: number, ttl: string) => ({ history_size: size, history_ttl: ttl });
/** The file: orders (history of 3, recovery forced), game (no history, joins and leaves pushed to everyone), doc (a short TTL, recovery on request), news (written by the server only), dm (user-limited), lobby (anonymous), ids (a channel_regex). */
const FILE = {
  channel: {
    namespaces: [
      { name: "orders", ...H(3, "300s"), force_recovery: true, force_positioning: true, allow_subscribe_for_client: true, allow_publish_for_subscriber: true, allow_history_for_subscriber: true, presence: true, join_leave: true, allow_presence_for_subscriber: true },
      { name: "game", presence: true, join_leave: true, force_push_join_leave: true, allow_subscribe_for_client: true, allow_publish_for_subscriber: true, allow_presence_for_subscriber: true },
      { name: "doc", ...H(10, "2s"), allow_recovery: true, allow_subscribe_for_client: true, allow_publish_for_client: true },
      { name: "news", ...H(10, "3600s"), force_recovery: true, allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true, allow_history_for_client: true },
      { name: "dm", ...H(20, "3600s"), force_recovery: true, allow_user_limited_channels: true, allow_publish_for_subscriber: true },
      { name: "lobby", allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true, allow_publish_for_subscriber: true, allow_publish_for_anonymous: true, presence: true, allow_presence_for_subscriber: true, allow_presence_for_anonymous: true },
      { name: "ids", channel_regex: "^[0-9]+$", allow_subscribe_for_client: true },
    ],
  },
};

let dir: string;
let sys: TestSystem;
let nc: NatsConnection;
let jsm: JetStreamManager;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rt-channels-"));
  const file = join(dir, "channels.json");
  writeFileSync(file, JSON.stringify(FILE));
  sys = await TestSystem.start({ gateways: 2, notifier: true, gatewayEnv: { CHANNELS_FILE: file, ALLOW_ANONYMOUS: "1" }, notifierEnv: { CHANNELS_FILE: file } });
  nc = await connect({ ...NATS_ADMIN, servers: sys.natsUrl });
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc?.close();
  await sys?.[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
});

const url = (gw: number) => `${sys.gw(gw).ws}/connection/websocket`;
/** A connected SDK client of `user` (undefined: anonymous) on gateway `gw`. */
async function sdk(gw: number, user: string | undefined): Promise<SdkClient> {
  const c = SdkClient.create(url(gw), user === undefined ? {} : { token: await signToken(user) });
  await c.connect();
  return c;
}
/** The server API on the notifier. */
async function api(method: string, body: unknown): Promise<{ result?: Record<string, unknown>; error?: { code: number } }> {
  const r = await fetch(`${sys.notifier!.http}/api/${method}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return (await r.json()) as { result?: Record<string, unknown>; error?: { code: number } };
}
/** The code an SDK call was refused with. */
const codeOf = (p: Promise<unknown>): Promise<number | undefined> => p.then(() => undefined, (e: { code?: number }) => e.code);
/** A subscribe the server refuses: the SDK ends the subscription with the error's code. */
async function refusedSubscribe(c: SdkClient, channel: string): Promise<number> {
  c.subscription(channel).subscribe();
  await c.until(() => c.unsubscribes.some((u) => u.channel === channel), `${channel} refused`);
  return c.unsubscribes.find((u) => u.channel === channel)!.code;
}
/** A raw protocol session on `gw`, connected as `user`: commands by id, replies by id. */
async function rawSession(gw: number, user: string) {
  const s = await TestSocket.open(url(gw));
  const lines = () => s.messages.flatMap((m) => m.split("\n")).map((l) => JSON.parse(l) as Record<string, unknown>);
  const reply = async (id: number) => {
    await waitFor(`reply ${id}`, () => lines().some((r) => r.id === id), 5000);
    return lines().find((r) => r.id === id)!;
  };
  s.send({ id: 1, connect: { token: await signToken(user) } });
  expect((await reply(1)).connect).toBeDefined();
  return { s, lines, reply };
}

describe("a namespace with history (orders: history_size 3, history_ttl 300s, recovery forced)", () => {
  test("keeps it in a stream of its own, NS_<ns>, with its size and TTL and the bounds (max_bytes, max_msg_size, discard old); only namespaces with history have one", async () => {
    const info = await jsm.streams.info(namespaceStream("orders"));
    expect(info.config).toMatchObject({
      subjects: [channelStoreWildcard("orders")],
      max_msgs_per_subject: 3,
      max_age: nanos(300_000),
      max_bytes: 256 * 1024 * 1024,
      max_msg_size: roomMaxMessageSize(64 * 1024),
      discard: "old",
      num_replicas: 1,
    });
    expect(info.config.republish).toEqual({ src: channelStoreWildcard("orders").replace(/\*$/, ">"), dest: channelStoreWildcard("orders").replace("store", "live").replace(/\*$/, ">") });
    const names: string[] = [];
    for await (const s of jsm.streams.list()) names.push(s.config.name);
    expect(names.filter((n) => n.startsWith("NS_")).sort()).toEqual(["orders", "doc", "news", "dm"].map(namespaceStream).sort());
    expect(names).toContain(ROOMS_STREAM);
  });

  test("across two gateways: every subscriber gets every publication once, in order, with offsets; history returns the last history_size", async () => {
    await using a = await sdk(0, "ord-a");
    await using b = await sdk(1, "ord-b");
    const sa = await a.subscribe("orders:1");
    await b.subscribe("orders:1");
    expect(b.subscribed.at(-1)).toMatchObject({ channel: "orders:1", epoch: expect.any(String) });
    for (let i = 0; i < 5; i++) await sa.publish({ i });
    for (const c of [a, b]) {
      await c.waitFor("orders:1", 5);
      expect(c.data("orders:1")).toEqual([0, 1, 2, 3, 4].map((i) => ({ i })));
      const offsets = c.publications.filter((p) => p.channel === "orders:1").map((p) => p.offset!);
      expect(offsets.every((o, k) => k === 0 || o > offsets[k - 1]!)).toBe(true);
      expect(c.publications.every((p) => p.info?.user === "ord-a")).toBe(true);
    }
    const h = await sa.history({ limit: -1 });
    expect(h.publications.map((p) => p.data)).toEqual([{ i: 2 }, { i: 3 }, { i: 4 }]);
    expect((await api("history", { channel: "orders:1", limit: -1 })).result?.publications).toHaveLength(3);
  });

  test("recovery: within history_size everything missed comes back, in order; past it the subscription is not recovered", async () => {
    await using a = await sdk(0, "rec-a");
    await using b = await sdk(1, "rec-b");
    const sa = await a.subscribe("orders:rec");
    await b.subscribe("orders:rec");
    await sa.publish({ n: 0 });
    await b.waitFor("orders:rec", 1);
    b.centrifuge.disconnect();
    await sa.publish({ n: 1 });
    await sa.publish({ n: 2 });
    await b.connect();
    await b.until(() => b.subscribed.filter((s) => s.channel === "orders:rec").length === 2, "subscribed again");
    expect(b.subscribed.at(-1)).toMatchObject({ wasRecovering: true, recovered: true });
    await b.waitFor("orders:rec", 3);
    expect(b.data("orders:rec")).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
    b.centrifuge.disconnect();
    for (let n = 3; n < 8; n++) await sa.publish({ n }); // five: more than the three kept
    await b.connect();
    await b.until(() => b.subscribed.filter((s) => s.channel === "orders:rec").length === 3, "subscribed a third time");
    expect(b.subscribed.at(-1)).toMatchObject({ wasRecovering: true, recovered: false });
  });

  test("reject-unrecovered (the SDK's getState, flag 2): a position that cannot be recovered is 112 and the SDK loads its state again; without the flag it is recovered: false", async () => {
    await using a = await sdk(0, "state-a");
    const sa = await a.subscribe("orders:state");
    const first = await api("publish", { channel: "orders:state", data: { n: 0 } });
    const stale = { offset: first.result!.offset as number, epoch: first.result!.epoch as string };
    for (let n = 1; n <= 4; n++) await sa.publish({ n }); // n: 0 is trimmed (three kept)
    await using b = await sdk(1, "state-b");
    const positions: Array<{ offset: number; epoch: string }> = [stale];
    let calls = 0;
    const sub = b.subscription("orders:state", {
      getState: async () => {
        calls++;
        if (calls === 1) return positions[0]!;
        const top = (await api("history", { channel: "orders:state" })).result as { offset: number; epoch: string };
        return { offset: top.offset, epoch: top.epoch };
      },
    });
    sub.subscribe();
    await b.until(() => b.subscribed.some((s) => s.channel === "orders:state"), "subscribed after getState");
    expect(calls).toBe(2); // the stale position was refused (112), so the SDK asked for the state again
    expect(b.subscribed.find((s) => s.channel === "orders:state")).toMatchObject({ wasRecovering: true, recovered: true });
    // The same stale position on the wire, with and without flag 2.
    const r = await rawSession(1, "state-raw");
    r.s.send({ id: 2, subscribe: { channel: "orders:state", recover: true, offset: stale.offset, epoch: stale.epoch, flag: 3 } });
    expect((await r.reply(2)).error).toMatchObject({ code: 112 });
    r.s.send({ id: 3, subscribe: { channel: "orders:state", recover: true, offset: stale.offset, epoch: stale.epoch, flag: 1 } });
    expect((await r.reply(3)).subscribe).toMatchObject({ recoverable: true, recovered: false, was_recovering: true });
    r.s.send({ id: 4, subscribe: { channel: "orders:state-2", type: 1 } });
    expect((await r.reply(4)).error).toMatchObject({ code: 108 }); // a map subscription: not served
    await r.s[Symbol.asyncDispose]();
  });

  test("presence and join/leave across gateways: joins pushed to those who asked (join_leave), presence for subscribers", async () => {
    await using a = await sdk(0, "pj-a");
    await using b = await sdk(1, "pj-b");
    await using quiet = await sdk(1, "pj-quiet");
    const sa = await a.subscribe("orders:pj", { joinLeave: true });
    await quiet.subscribe("orders:pj");
    const sb = await b.subscribe("orders:pj");
    await a.until(() => a.joins.some((j) => j.user === "pj-b"), "a is told b joined (on the other gateway)");
    expect(Object.values((await sb.presence()).clients).map((c) => c.user).sort()).toEqual(["pj-a", "pj-b", "pj-quiet"]);
    expect(await sa.presenceStats()).toMatchObject({ numClients: 3, numUsers: 3 });
    b.centrifuge.disconnect();
    await a.until(() => a.leaves.some((l) => l.user === "pj-b"), "a is told b left");
    // quiet did not ask for joins: a publication after them is the proof that none came.
    await sa.publish({ marker: true });
    await quiet.waitFor("orders:pj", 1);
    expect(quiet.joins).toEqual([]);
    expect(quiet.leaves).toEqual([]);
  });
});

describe("a namespace without history (game)", () => {
  test("has no stream: its publications are core NATS (chan.pub.<ns>.<channel>) and reach both gateways, each publisher's in order, without offsets", async () => {
    expect(await jsm.streams.info(namespaceStream("game")).then(() => "exists", (e: unknown) => (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound ? "none" : String(e)))).toBe("none");
    let core = 0;
    const seen = nc.subscribe("chan.pub.>", { callback: () => void core++ });
    await nc.flush();
    await using a = await sdk(0, "game-a");
    await using b = await sdk(1, "game-b");
    const sa = await a.subscribe("game:1", { recoverable: true, positioned: true });
    const sb = await b.subscribe("game:1");
    for (let i = 0; i < 20; i++) await sa.publish({ i });
    await sb.publish({ from: "b" });
    await b.waitFor("game:1", 21);
    await a.waitFor("game:1", 21);
    // Each publisher's in its order on both gateways (two publishers' may interleave differently: NATS orders per connection).
    const fromA = (c: SdkClient) => c.data("game:1").filter((d) => (d as { i?: number }).i !== undefined);
    expect(fromA(b)).toEqual(Array.from({ length: 20 }, (_, i) => ({ i })));
    expect(fromA(a)).toEqual(Array.from({ length: 20 }, (_, i) => ({ i })));
    expect([...a.publications, ...b.publications].every((p) => p.offset === undefined || p.offset === 0)).toBe(true);
    // The recoverable and positioned a asked for are ignored: no position.
    expect(a.subscribed.find((s) => s.channel === "game:1")).toMatchObject({ offset: undefined, epoch: undefined });
    await waitFor("the publications seen on core NATS", () => core >= 21);
    seen.unsubscribe();
    expect(await codeOf(sa.history({ limit: 1 }))).toBe(108); // 108 before 103: no history here, and no allow_history_* either
    // The server API publishes there too: {} (nothing stored, nothing to number).
    expect(await api("publish", { channel: "game:1", data: { from: "api" } })).toEqual({ result: {} });
    await a.until(() => a.data("game:1").some((d) => (d as { from?: string }).from === "api"), "the API's publication");
  });

  test("force_push_join_leave: every subscriber gets joins and leaves without asking; presence across gateways", async () => {
    await using a = await sdk(0, "fj-a");
    await using b = await sdk(1, "fj-b");
    const sa = await a.subscribe("game:fj");
    await b.subscribe("game:fj");
    await a.until(() => a.joins.some((j) => j.user === "fj-b"), "a told of b's join");
    expect(Object.values((await sa.presence()).clients).map((c) => c.user).sort()).toEqual(["fj-a", "fj-b"]);
    b.centrifuge.disconnect();
    await a.until(() => a.leaves.some((l) => l.user === "fj-b"), "a told of b's leave");
  });
});

describe("history_ttl and allow_recovery (doc: 2s, recovery on request)", () => {
  test("a publication older than history_ttl is gone from history", async () => {
    const r = await api("publish", { channel: "doc:ttl", data: { v: 1 } });
    expect(r.result?.offset).toBeGreaterThan(0);
    expect((await api("history", { channel: "doc:ttl", limit: -1 })).result?.publications).toHaveLength(1);
    await waitFor("the publication expired (max_age 2s)", async () => ((await api("history", { channel: "doc:ttl", limit: -1 })).result?.publications as unknown[]).length === 0, 15_000, 250);
  });

  test("a subscription is recoverable only when the client asks (allow_recovery), not forced", async () => {
    await using c = await sdk(0, "doc-user");
    await c.subscribe("doc:plain");
    await c.subscribe("doc:asked", { recoverable: true });
    expect(c.subscribed.find((s) => s.channel === "doc:plain")).toMatchObject({ offset: undefined, epoch: undefined });
    expect(c.subscribed.find((s) => s.channel === "doc:asked")?.epoch).toEqual(expect.any(String));
  });
});

describe("who may publish, subscribe, read", () => {
  test("news is written by the server only: a client's publish is 103, the API's reaches every subscriber (an anonymous one too) with its offset", async () => {
    await using alice = await sdk(0, "news-alice");
    await using anon = await sdk(1, undefined);
    const s = await alice.subscribe("news:today");
    await anon.subscribe("news:today");
    expect(await codeOf(s.publish({ text: "mine" }))).toBe(103);
    const r = await api("publish", { channel: "news:today", data: { text: "headline" } });
    for (const c of [alice, anon]) {
      await c.waitFor("news:today", 1);
      expect(c.publications.find((p) => p.channel === "news:today")).toMatchObject({ data: { text: "headline" }, offset: r.result!.offset, info: undefined });
    }
    expect(alice.subscribed.find((x) => x.channel === "news:today")?.epoch).toBe(r.result!.epoch as string);
  });

  test("user-limited channels (dm:talk#alice,bob): open to the users listed only; a name with an empty user is 107", async () => {
    await using alice = await sdk(0, "alice");
    await using bob = await sdk(1, "bob");
    await using carol = await sdk(0, "carol");
    await using anon = await sdk(1, undefined);
    const sa = await alice.subscribe("dm:talk#alice,bob");
    await bob.subscribe("dm:talk#alice,bob");
    await sa.publish({ text: "hi bob" });
    await bob.waitFor("dm:talk#alice,bob", 1);
    expect(bob.publications[0]).toMatchObject({ data: { text: "hi bob" }, info: { user: "alice" } });
    expect(await refusedSubscribe(carol, "dm:talk#alice,bob")).toBe(103);
    expect(await refusedSubscribe(anon, "dm:talk#alice,bob")).toBe(103);
    expect(await refusedSubscribe(carol, "dm:talk#alice,")).toBe(107);
    expect(await refusedSubscribe(carol, "dm:talk")).toBe(103); // not user-limited: dm lets no client subscribe by itself
  });

  test("anonymous connections get only what *_for_anonymous allows: the lobby, not orders", async () => {
    await using anon = await sdk(0, undefined);
    await using alice = await sdk(1, "lobby-alice");
    const s = await anon.subscribe("lobby:main");
    await alice.subscribe("lobby:main");
    await s.publish({ text: "from nobody" });
    await alice.waitFor("lobby:main", 1);
    expect(alice.publications.find((p) => p.channel === "lobby:main")?.info?.user).toBe("");
    expect(Object.keys((await s.presence()).clients)).toHaveLength(2);
    expect(await refusedSubscribe(anon, "orders:anon")).toBe(103);
  });

  test("channel_regex binds clients: ids:42 is served, ids:x is 107; an unknown namespace is 102", async () => {
    await using c = await sdk(0, "regex-user");
    await c.subscribe("ids:42");
    expect(await refusedSubscribe(c, "ids:x")).toBe(107);
    expect(await refusedSubscribe(c, "nobody:x")).toBe(102);
    expect(await refusedSubscribe(c, "plain")).toBe(102); // no without_namespace in this file
  });

  test("the built-in channels stay as they were: chat rooms on ROOMS, shared with /chat/{room}", async () => {
    await using c = await sdk(0, "chat-user");
    await using legacy = await TestSocket.open(`${sys.gw(1).ws}/chat/ns-lobby`);
    const s = await c.subscribe("chat:ns-lobby");
    await waitFor("the /chat/ member in presence", async () => Object.keys((await s.presence()).clients).length === 2);
    await s.publish({ text: "hello" });
    expect(await legacy.waitForMessages(1)).toEqual(["Room ns-lobby: hello"]);
  });
});
