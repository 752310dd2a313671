// The server API's methods beyond publishing (Centrifugo's): subscribe (the subscribe push the
// SDKs read), refresh, history_remove; publish's skip_history and tags; strict request schemas; the
// error bodies of 404/405; info and presence_stats counting users alike. Two real gateways, a
// notifier, nats-server, the official `centrifuge` SDK (JSON and Protobuf builds).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { API_METHODS, LIVE_ONLY_HEADER, ROOMS_STREAM, roomLiveSubject } from "@rt/protocol";
import { NATS_ADMIN, SdkClient, TestSocket, TestSystem, signToken, waitFor, type SdkEncoding } from "@rt/testkit";

/** orders: history, recovery forced; game: no history; lobby: anonymous clients too. */
const FILE = {
  channel: {
    namespaces: [
      { name: "orders", history_size: 10, history_ttl: "300s", force_recovery: true, force_positioning: true, allow_subscribe_for_client: true, allow_publish_for_subscriber: true, presence: true },
      { name: "game", presence: true, allow_subscribe_for_client: true },
      { name: "lobby", presence: true, allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true },
    ],
  },
};

let dir: string;
let sys: TestSystem;
let nc: NatsConnection;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rt-api-methods-"));
  const file = join(dir, "channels.json");
  writeFileSync(file, JSON.stringify(FILE));
  sys = await TestSystem.start({ gateways: 2, notifier: true, gatewayEnv: { CHANNELS_FILE: file, ALLOW_ANONYMOUS: "1" }, notifierEnv: { CHANNELS_FILE: file } });
  nc = await connect({ ...NATS_ADMIN, servers: sys.natsUrl });
});
afterAll(async () => {
  await nc?.close();
  await sys?.[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
});

type Answer = { result?: Record<string, unknown>; error?: { code: number; message: string }; replies?: Array<Record<string, unknown>> };
type Transport = "http" | "nats";

async function call(transport: Transport, method: string, body: unknown): Promise<Answer> {
  if (transport === "nats") return JSON.parse(new TextDecoder().decode((await nc.request(`api.${method}`, JSON.stringify(body), { timeout: 10_000 })).data)) as Answer;
  const r = await fetch(`${sys.notifier!.http}/api/${method}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  expect(r.status).toBe(200);
  return (await r.json()) as Answer;
}
async function client(gw: number, user: string | undefined, encoding: SdkEncoding = "json"): Promise<SdkClient> {
  const c = SdkClient.create(`${sys.gw(gw).ws}/connection/websocket`, user === undefined ? {} : { token: await signToken(user) }, encoding);
  await c.connect();
  return c;
}
/** A command and its reply on `c`'s connection (an RPC nobody serves: 108): what the server wrote before it has arrived. */
const roundTrip = (c: SdkClient) => c.centrifuge.rpc("api-methods-round-trip", {}).then(() => 0, (e: { code: number }) => e.code);
/** A protocol connection on a raw socket, connected as `user`. */
async function rawClient(gw: number, user: string, token?: string): Promise<TestSocket> {
  const s = await TestSocket.open(`${sys.gw(gw).ws}/connection/websocket`);
  s.send({ id: 1, connect: { token: token ?? (await signToken(user)) } });
  await s.waitForMessages(1);
  expect(s.messages[0]).toContain('"client"');
  return s;
}

// First, while the system holds no other connection: the counts below are exact.
test("info.num_users and presence_stats.num_users count alike: distinct users, every connection without one (anonymous, /chat/) as user \"\"", async () => {
  await using named0 = await client(0, "count-u");
  await using named1 = await client(1, "count-u");
  await using anon = await client(0, undefined);
  await using legacy = await TestSocket.open(`${sys.gw(1).ws}/chat/count-room`);
  for (const c of [named0, named1, anon]) await c.subscribe("lobby:count");
  const stats = (await call("http", "presence_stats", { channel: "lobby:count" })).result;
  expect(stats).toEqual({ num_clients: 3, num_users: 2 });
  const info = async () => ((await call("http", "info", {})).result as { nodes: Array<{ uid: string; num_clients: number; num_users: number }> }).nodes;
  // Each gateway: count-u and "" (gateway 0: the anonymous client; gateway 1: the /chat/ socket).
  await waitFor("both gateways count their sockets", async () => (await info()).every((n) => n.num_clients === 2));
  expect((await info()).map((n) => n.num_users)).toEqual([2, 2]);
  void legacy;
});

describe.each(["http", "nats"] as const)("over %s", (t) => {
  test("subscribe: every connection of the user, on both gateways and both encodings, gets the subscribe push (data, position), then the channel's publications", async () => {
    const user = `ss-${t}`;
    const ch = `orders:ss-${t}`;
    await using a = await client(0, user);
    await using b = await client(1, user, "protobuf");
    await using other = await client(1, `ss-other-${t}`);
    expect(await call(t, "subscribe", { user, channel: ch, data: { welcome: true }, info: { role: "buyer" } })).toEqual({ result: {} });
    // The call answers once every gateway has pushed: the subscribed events are there (or on their way before a reply).
    for (const c of [a, b]) {
      await c.until(() => c.subscribed.some((s) => s.channel === ch), "the subscribe push");
      expect(c.subscribed.find((s) => s.channel === ch)).toMatchObject({ data: { welcome: true }, offset: 0, epoch: expect.any(String) });
    }
    expect(await roundTrip(other)).toBe(108);
    expect(other.subscribed.some((s) => s.channel === ch)).toBe(false);
    const presence = (await call(t, "presence", { channel: ch })).result as { presence: Record<string, { client: string; user: string; chan_info?: unknown }> };
    expect(presence.presence).toEqual({ [a.clientId!]: { client: a.clientId!, user, chan_info: { role: "buyer" } }, [b.clientId!]: { client: b.clientId!, user, chan_info: { role: "buyer" } } });
    const pub = await call(t, "publish", { channel: ch, data: { n: 1 } });
    for (const c of [a, b]) {
      await c.waitFor(ch, 1);
      expect(c.publications.find((p) => p.channel === ch)).toMatchObject({ data: { n: 1 }, offset: (pub.result as { offset: number }).offset });
    }
    // Again: subscribed already, nothing pushed twice.
    expect(await call(t, "subscribe", { user, channel: ch })).toEqual({ result: {} });
    expect(await roundTrip(a)).toBe(108);
    expect(a.subscribed.filter((s) => s.channel === ch)).toHaveLength(1);
    // The server unsubscribes it: the SDK drops the server-side subscription.
    expect(await call(t, "unsubscribe", { user, channel: ch })).toEqual({ result: {} });
    await a.until(() => a.serverUnsubscribed.includes(ch), "the server-side subscription ended");
  });

  test("subscribe one client of the user only; errors: #<user> 103, unknown namespace 102, a bad name or every anonymous connection 107", async () => {
    const user = `ss1-${t}`;
    const ch = `game:ss1-${t}`;
    await using a = await client(0, user);
    await using b = await client(1, user);
    expect(await call(t, "subscribe", { user, channel: ch, client: b.clientId })).toEqual({ result: {} });
    await b.until(() => b.subscribed.some((s) => s.channel === ch), "the subscribe push");
    expect(await roundTrip(a)).toBe(108);
    expect(a.subscribed.some((s) => s.channel === ch)).toBe(false);
    expect((await call(t, "presence_stats", { channel: ch })).result).toEqual({ num_clients: 1, num_users: 1 });
    expect((await call(t, "subscribe", { user, channel: `#${user}` })).error?.code).toBe(103);
    expect((await call(t, "subscribe", { user, channel: "nowhere:x" })).error?.code).toBe(102);
    expect((await call(t, "subscribe", { user, channel: "chat:no room" })).error?.code).toBe(107);
    expect((await call(t, "subscribe", { user: "", channel: ch })).error?.code).toBe(107);
    // Channel info and data are bounded like publication data (MAX_MESSAGE_BYTES as JSON).
    expect((await call(t, "subscribe", { user, channel: ch, info: "x".repeat(70_000) })).error?.code).toBe(107);
    expect((await call(t, "subscribe", { user, channel: ch, data: "x".repeat(70_000) })).error?.code).toBe(107);
  });

  test("refresh: expired closes the user's connections with 3005; expire_at in the past closes them at the next sweep; others stay", async () => {
    const user = `rf-${t}`;
    await using s0 = await rawClient(0, user);
    await using s1 = await rawClient(1, user);
    await using bystander = await client(0, `rf-other-${t}`);
    expect(await call(t, "refresh", { user, expired: true })).toEqual({ result: {} });
    expect(await s0.closed()).toBe(3005);
    expect(await s1.closed()).toBe(3005);
    await using s2 = await rawClient(1, user);
    expect(await call(t, "refresh", { user, expire_at: Math.floor(Date.now() / 1000) - 1 })).toEqual({ result: {} });
    expect(await s2.closed()).toBe(3005);
    expect(await roundTrip(bystander)).toBe(108);
    expect(String(bystander.centrifuge.state)).toBe("connected");
    expect((await call(t, "refresh", { user: "" })).error?.code).toBe(107);
    expect((await call(t, "refresh", { user, expire_at: "soon" })).error?.code).toBe(107);
  });

  test("skip_history: delivered on both gateways in order between stored publications, without an offset; not in history", async () => {
    for (const ch of [`orders:skip-${t}`, `chat:skip-${t}`]) {
      await using a = await client(0, `skip-a-${t}`);
      await using b = await client(1, `skip-b-${t}`, "protobuf");
      await a.subscribe(ch);
      await b.subscribe(ch);
      const answers: Answer[] = [];
      for (let i = 1; i <= 6; i++) answers.push(await call(t, "publish", { channel: ch, data: { i }, ...(i % 2 === 0 ? { skip_history: true } : {}) }));
      expect(answers.filter((_, k) => k % 2 === 1).map((x) => x.result)).toEqual([{}, {}, {}]);
      for (const c of [a, b]) {
        await c.waitFor(ch, 6);
        const got = c.publications.filter((p) => p.channel === ch);
        expect(got.map((p) => p.data)).toEqual([1, 2, 3, 4, 5, 6].map((i) => ({ i })));
        expect(got.map((p) => p.offset === undefined || p.offset === 0)).toEqual([false, true, false, true, false, true]);
        expect(got.filter((p) => !(p.offset === undefined || p.offset === 0)).map((p) => p.offset)).toEqual(answers.filter((_, k) => k % 2 === 0).map((x) => (x.result as { offset: number }).offset));
      }
      const history = (await call(t, "history", { channel: ch, limit: -1 })).result as { publications: Array<{ data: unknown }> };
      expect(history.publications.map((p) => p.data)).toEqual([{ i: 1 }, { i: 3 }, { i: 5 }]);
    }
  });

  test("tags reach the publication's tags in JSON and Protobuf pushes and in history; broadcast too", async () => {
    const ch = `chat:tags-${t}`;
    const ch2 = `game:tags-${t}`;
    await using a = await client(0, `tags-a-${t}`);
    await using b = await client(1, `tags-b-${t}`, "protobuf");
    for (const c of [a, b]) {
      await c.subscribe(ch);
      await c.subscribe(ch2);
    }
    await call(t, "publish", { channel: ch, data: { x: 1 }, tags: { kind: "order", id: "42" } });
    await call(t, "publish", { channel: ch, data: { x: 2 }, tags: { kind: "live" }, skip_history: true });
    const bc = await call(t, "broadcast", { channels: [ch, ch2], data: { x: 3 }, tags: { kind: "all" } });
    expect((bc.result as { responses: Answer[] }).responses.every((r) => r.result !== undefined)).toBe(true);
    for (const c of [a, b]) {
      await c.waitFor(ch, 3);
      await c.waitFor(ch2, 1);
      expect(c.publications.filter((p) => p.channel === ch).map((p) => p.tags)).toEqual([{ kind: "order", id: "42" }, { kind: "live" }, { kind: "all" }]);
      expect(c.publications.find((p) => p.channel === ch2)?.tags).toEqual({ kind: "all" });
    }
    const history = (await call(t, "history", { channel: ch, limit: -1 })).result as { publications: Array<{ tags?: unknown }> };
    expect(history.publications.map((p) => p.tags)).toEqual([{ kind: "order", id: "42" }, { kind: "all" }]);
    // Tags count with the data: over what the gateways relay, 107 and nothing stored.
    const big = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, "v".repeat(1024)]));
    expect((await call(t, "publish", { channel: ch, data: "x".repeat(60_000), tags: big })).error?.code).toBe(107);
  });

  test("history_remove: the kept publications are gone, the next publication follows on for subscribers; 108 without history, 103 for #<user>", async () => {
    const ch = `orders:hr-${t}`;
    await using a = await client(0, `hr-${t}`);
    await a.subscribe(ch);
    let last = 0;
    for (let i = 0; i < 3; i++) last = ((await call(t, "publish", { channel: ch, data: { i } })).result as { offset: number }).offset;
    expect(((await call(t, "history", { channel: ch, limit: -1 })).result as { publications: unknown[] }).publications).toHaveLength(3);
    expect(await call(t, "history_remove", { channel: ch })).toEqual({ result: {} });
    expect(((await call(t, "history", { channel: ch, limit: -1 })).result as { publications: unknown[] }).publications).toEqual([]);
    const next = ((await call(t, "publish", { channel: ch, data: { i: 3 } })).result as { offset: number }).offset;
    expect(next).toBeGreaterThan(last);
    await a.waitFor(ch, 4);
    expect(a.data(ch)).toEqual([0, 1, 2, 3].map((i) => ({ i })));
    expect((await call(t, "history", { channel: ch, limit: -1 })).result).toMatchObject({ publications: [{ data: { i: 3 }, offset: next }] });
    expect((await call(t, "history_remove", { channel: "game:x" })).error?.code).toBe(108);
    expect((await call(t, "history_remove", { channel: "#someone" })).error?.code).toBe(103);
    expect((await call(t, "history_remove", { channel: "nowhere:x" })).error?.code).toBe(102);
  });

  test("every method: an unknown field or a value of the wrong type is 107, in a batch too", async () => {
    const valid: Record<string, Record<string, unknown>> = {
      publish: { channel: "chat:strict", data: {} },
      broadcast: { channels: ["chat:strict"], data: {} },
      subscribe: { user: "u", channel: "chat:strict" },
      unsubscribe: { user: "u", channel: "chat:strict" },
      disconnect: { user: "nobody-strict" },
      refresh: { user: "nobody-strict" },
      history: { channel: "chat:strict" },
      history_remove: { channel: "chat:strict" },
      presence: { channel: "chat:strict" },
      presence_stats: { channel: "chat:strict" },
      channels: {},
      info: {},
      batch: { commands: [{ info: {} }] },
    };
    expect(Object.keys(valid).sort()).toEqual(Object.keys(API_METHODS).sort());
    for (const [method, body] of Object.entries(valid)) {
      expect((await call(t, method, body)).error, method).toBeUndefined();
      expect((await call(t, method, { ...body, b64data: "e30=" })).error?.code, `${method} with an unknown field`).toBe(107);
      const [field] = Object.keys(body);
      if (field !== undefined) expect((await call(t, method, { ...body, [field]: 12345 })).error?.code, `${method} with a number for ${field}`).toBe(107);
    }
    expect((await call(t, "history", { channel: "chat:strict", since: { offset: 1, epoch: "x", extra: 1 } })).error?.code).toBe(107);
    expect((await call(t, "disconnect", { user: "x", disconnect: { code: 4000, reason: "r", extra: 1 } })).error?.code).toBe(107);
    expect((await call(t, "publish", { channel: "chat:strict", data: {}, skip_history: "yes" })).error?.code).toBe(107);
    expect((await call(t, "publish", { channel: "chat:strict", data: {}, tags: { a: 1 } })).error?.code).toBe(107);
    // delta is Centrifugo's field: accepted.
    expect((await call(t, "publish", { channel: "chat:strict", data: {}, delta: true })).error).toBeUndefined();
    const batch = await call(t, "batch", { commands: [{ info: { extra: 1 } }, { history_remove: { channel: "chat:strict" } }] });
    expect(batch.replies).toEqual([{ error: { code: 107, message: expect.any(String) } }, { history_remove: {} }]);
  });
});

test("a server-side subscription made by the API lasts one connection: after a reconnect the connect result does not list it and the SDK drops it", async () => {
  const user = "ss-reconnect";
  const ch = "orders:ss-reconnect";
  await using a = await client(0, user);
  expect(await call("http", "subscribe", { user, channel: ch })).toEqual({ result: {} });
  await a.until(() => a.subscribed.some((s) => s.channel === ch), "the subscribe push");
  // 3000-3499: the SDK reconnects.
  expect(await call("http", "disconnect", { user, disconnect: { code: 3001, reason: "reconnect please" } })).toEqual({ result: {} });
  await a.until(() => a.serverUnsubscribed.includes(ch), "the SDK dropped the server-side subscription");
  await a.until(() => String(a.centrifuge.state) === "connected", "connected again");
  expect(a.subscribed.filter((s) => s.channel === ch)).toHaveLength(1);
});

test("refresh expire_at extends a connection past its token's expiry: when another connection with the same expiry is closed (3005), the refreshed one is still up", async () => {
  // The refreshed one's token first: its expiry is at most the other's.
  const a = await rawClient(0, "rfx-a", await signToken("rfx-a", { expiresIn: "2s" }));
  const b = await rawClient(0, "rfx-b", await signToken("rfx-b", { expiresIn: "2s" }));
  await using _a = a;
  await using _b = b;
  expect(await call("http", "refresh", { user: "rfx-a", expire_at: Math.floor(Date.now() / 1000) + 3600 })).toEqual({ result: {} });
  expect(await b.closed(10_000)).toBe(3005);
  // The sweep that closed b looked at a too: a command answered after it proves a is up.
  a.send({ id: 2, rpc: { method: "api-methods-round-trip", data: {} } });
  await a.waitForMessages(2);
  expect(a.messages[1]).toContain('"id":2');
  expect(a.closeCode).toBeUndefined();
});

test("skip_history behind a gap: a live-only publication that comes while later stored ones wait for a missing one is written after them, not before", async () => {
  const room = "skip-gap";
  const ch = `chat:${room}`;
  await using a = await client(0, "gap-a");
  await a.subscribe(ch);
  await call("http", "publish", { channel: ch, data: { n: 0 } });
  await a.waitFor(ch, 1);
  // The stream's republished copies as they may arrive under load: the second before the first
  // (seqs far ahead of the stream's, on a room of this test only), and a live-only one between.
  const copy = (seq: number, prev: number, n: number) => {
    const h = headers();
    h.set("Nats-Stream", ROOMS_STREAM);
    h.set("Nats-Sequence", String(seq));
    h.set("Nats-Last-Sequence", String(prev));
    nc.publish(roomLiveSubject(room), JSON.stringify({ data: { n } }), { headers: h });
  };
  const liveOnly = headers();
  liveOnly.set(LIVE_ONLY_HEADER, "1");
  const top = a.publications.find((p) => p.channel === ch)!.offset!;
  const base = 1_000_000_000;
  copy(base + 2, base + 1, 2); // waits for base + 1
  nc.publish(roomLiveSubject(room), JSON.stringify({ data: { n: "live" } }), { headers: liveOnly });
  copy(base + 1, top, 1);
  await a.waitFor(ch, 4);
  expect(a.data(ch)).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }, { n: "live" }]);
  expect(a.publications.filter((p) => p.channel === ch).map((p) => p.offset ?? 0)).toEqual([top, base + 1, base + 2, 0]);
});

test("HTTP: 404 and 405 under /api answer {\"error\": {code, message}}", async () => {
  const base = sys.notifier!.http;
  const get = await fetch(`${base}/api/info`);
  expect([get.status, get.headers.get("allow")]).toEqual([405, "POST"]);
  expect(await get.json()).toEqual({ error: { code: 107, message: "method not allowed: use POST" } });
  const put = await fetch(`${base}/api/nope`, { method: "PUT" });
  expect(put.status).toBe(405);
  expect(Object.keys((await put.json()) as object)).toEqual(["error"]);
  const root = await fetch(`${base}/api`, { method: "POST", body: "{}" });
  expect([root.status, await root.json()]).toEqual([404, { error: { code: 104, message: "not found" } }]);
  const empty = await fetch(`${base}/api/`, { method: "POST", body: "{}" });
  expect([empty.status, await empty.json()]).toEqual([404, { error: { code: 104, message: "not found" } }]);
});
