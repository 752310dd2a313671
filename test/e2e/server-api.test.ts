// The server API (Centrifugo's) on the notifier: every method over HTTP and over NATS, against two
// gateways, the official SDK and the article's endpoints; auth and errors; batch notifications.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { SdkClient, TestSocket, TestSystem, signToken, waitFor, NATS_ADMIN } from "@rt/testkit";

const KEY = "api-key-for-tests";
let sys: TestSystem;
let nc: NatsConnection;
beforeAll(async () => {
  sys = await TestSystem.start({ gateways: 2, notifier: true, notifierEnv: { NOTIFIER_TOKENS: `other-token,${KEY}` } });
  nc = await connect({ ...NATS_ADMIN, servers: sys.natsUrl });
});
afterAll(async () => {
  await nc?.close();
  await sys?.[Symbol.asyncDispose]();
});

type Answer = { result?: Record<string, unknown>; error?: { code: number; message: string }; replies?: Array<Record<string, unknown>> };
type Transport = "http" | "nats";

async function call(transport: Transport, method: string, body: unknown): Promise<Answer> {
  if (transport === "nats") return JSON.parse(new TextDecoder().decode((await nc.request(`api.${method}`, JSON.stringify(body), { timeout: 10_000 })).data)) as Answer;
  const r = await fetch(`${sys.notifier!.http}/api/${method}`, { method: "POST", headers: { "x-api-key": KEY, "content-type": "application/json" }, body: JSON.stringify(body) });
  expect(r.status).toBe(method === "nope" ? 404 : 200); // an API error is a 200 with {"error"}; only an unknown method is not
  return (await r.json()) as Answer;
}
/** A command and its reply on `c`'s connection (an RPC nobody serves: error 108). */
const roundTrip = (c: SdkClient) => c.centrifuge.rpc("api-test-round-trip", {}).then(() => 0, (e: { code: number }) => e.code);
async function client(gw: number, user: string): Promise<SdkClient> {
  const c = SdkClient.create(`${sys.gw(gw).ws}/connection/websocket`, { token: await signToken(user) });
  await c.connect();
  return c;
}

describe.each(["http", "nats"] as const)("the server API over %s", (t) => {
  test("publish into chat:<room> reaches SDK subscribers on both gateways and /chat/ sockets; the result is the publication's offset and epoch", async () => {
    await using a = await client(0, `pub-a-${t}`);
    await using b = await client(1, `pub-b-${t}`);
    await a.subscribe(`chat:api-pub-${t}`);
    await b.subscribe(`chat:api-pub-${t}`);
    await using legacy = await TestSocket.open(`${sys.gw(1).ws}/chat/api-pub-${t}`);
    await waitFor("the /chat/ member placed", async () => (await call(t, "presence_stats", { channel: `chat:api-pub-${t}` })).result?.num_clients === 3);
    const r = await call(t, "publish", { channel: `chat:api-pub-${t}`, data: { text: "from the backend" } });
    expect(r.error).toBeUndefined();
    const { offset, epoch } = r.result as { offset: number; epoch: string };
    expect(offset).toBeGreaterThan(0);
    for (const c of [a, b]) {
      await c.waitFor(`chat:api-pub-${t}`, 1);
      expect(c.publications.find((p) => p.channel === `chat:api-pub-${t}`)).toMatchObject({ data: { text: "from the backend" }, offset, info: undefined });
    }
    expect(a.subscribed.find((s) => s.channel === `chat:api-pub-${t}`)?.epoch).toBe(epoch);
    expect(await legacy.waitForMessages(1)).toEqual([`Room api-pub-${t}: from the backend`]);
  });

  test("publish with an idempotency_key: a repeat stores nothing and answers the first offset", async () => {
    await using a = await client(0, `idem-${t}`);
    await a.subscribe(`chat:api-idem-${t}`);
    const first = await call(t, "publish", { channel: `chat:api-idem-${t}`, data: { n: 1 }, idempotency_key: "k1" });
    const again = await call(t, "publish", { channel: `chat:api-idem-${t}`, data: { n: 1 }, idempotency_key: "k1" });
    const other = await call(t, "publish", { channel: `chat:api-idem-${t}`, data: { n: 2 }, idempotency_key: "k2" });
    expect(again.result).toEqual(first.result!);
    expect((other.result as { offset: number }).offset).toBeGreaterThan((first.result as { offset: number }).offset);
    // A marker publication after them: a second copy of n:1 would have been stored, and so
    // delivered, before it.
    await call(t, "publish", { channel: `chat:api-idem-${t}`, data: { n: 3 } });
    await a.waitFor(`chat:api-idem-${t}`, 3);
    expect(a.data(`chat:api-idem-${t}`)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  test("publish errors: #<user> and system:monitor 103, another namespace 102, a bad name or no data 107, an unknown method 104", async () => {
    expect((await call(t, "publish", { channel: "#someone", data: {} })).error?.code).toBe(103);
    expect((await call(t, "publish", { channel: "system:monitor", data: {} })).error?.code).toBe(103);
    expect((await call(t, "publish", { channel: "news:1", data: {} })).error?.code).toBe(102);
    expect((await call(t, "publish", { channel: "chat:no room", data: {} })).error?.code).toBe(107);
    expect((await call(t, "publish", { channel: "chat:x" })).error?.code).toBe(107);
    expect((await call(t, "publish", { channel: "chat:x", data: JSON.parse(`${"[".repeat(100)}${"]".repeat(100)}`) as unknown })).error?.code).toBe(107);
    expect(await call(t, "nope", {})).toEqual({ error: { code: 104, message: "not found" } });
  });

  test("broadcast: one response per channel, in order, errors in place", async () => {
    await using a = await client(1, `bc-${t}`);
    await a.subscribe(`chat:bc1-${t}`);
    await a.subscribe(`chat:bc2-${t}`);
    const r = await call(t, "broadcast", { channels: [`chat:bc1-${t}`, "news:x", `chat:bc2-${t}`], data: { hello: "all" } });
    const responses = (r.result as { responses: Answer[] }).responses;
    expect(responses).toHaveLength(3);
    expect(responses[0]!.result).toMatchObject({ offset: expect.any(Number), epoch: expect.any(String) });
    expect(responses[1]!.error?.code).toBe(102);
    expect(responses[2]!.result).toMatchObject({ offset: expect.any(Number) });
    await a.waitFor(`chat:bc1-${t}`, 1);
    await a.waitFor(`chat:bc2-${t}`, 1);
  });

  test("history of a room (limit, reverse, since) and of a user's inbox; 112 for another epoch, 108 for system:monitor", async () => {
    const ch = `chat:api-hist-${t}`;
    const offsets: number[] = [];
    for (let i = 0; i < 5; i++) offsets.push(((await call(t, "publish", { channel: ch, data: { i } })).result as { offset: number }).offset);
    const pos = (await call(t, "history", { channel: ch })).result as { publications: unknown[]; offset: number; epoch: string };
    expect(pos.publications).toEqual([]);
    expect(pos.offset).toBe(offsets[4]!);
    const all = (await call(t, "history", { channel: ch, limit: -1 })).result as { publications: Array<{ data: unknown; offset: number }> };
    expect(all.publications.map((p) => p.data)).toEqual([0, 1, 2, 3, 4].map((i) => ({ i })));
    const rev = (await call(t, "history", { channel: ch, limit: 2, reverse: true })).result as { publications: Array<{ data: unknown }> };
    expect(rev.publications.map((p) => p.data)).toEqual([{ i: 4 }, { i: 3 }]);
    const since = (await call(t, "history", { channel: ch, limit: 10, since: { offset: offsets[2], epoch: pos.epoch } })).result as { publications: Array<{ data: unknown }> };
    expect(since.publications.map((p) => p.data)).toEqual([{ i: 3 }, { i: 4 }]);
    expect((await call(t, "history", { channel: ch, limit: 1, since: { offset: 1, epoch: "other" } })).error?.code).toBe(112);
    expect((await call(t, "history", { channel: "system:monitor", limit: 1 })).error?.code).toBe(108);

    const user = `hist-user-${t}`;
    for (const body of ["one", "two"]) await fetch(`${sys.notifier!.http}/notifications`, { method: "POST", headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" }, body: JSON.stringify({ user_id: user, body }) });
    const inbox = (await call(t, "history", { channel: `#${user}`, limit: -1 })).result as { publications: Array<{ data: { body: string }; offset: number }>; offset: number };
    expect(inbox.publications.map((p) => p.data.body)).toEqual(["one", "two"]);
    expect(inbox.offset).toBe(inbox.publications[1]!.offset);
  });

  test("history of #<user> since another epoch is 112 for the server API and for the client protocol alike (one policy, one answer)", async () => {
    const user = `epoch-user-${t}`;
    await fetch(`${sys.notifier!.http}/notifications`, { method: "POST", headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" }, body: JSON.stringify({ user_id: user, body: "one" }) });
    const inbox = (await call(t, "history", { channel: `#${user}`, limit: -1 })).result as { offset: number; epoch: string };
    expect(inbox.epoch).toMatch(/^[A-Za-z0-9_-]+$/);
    expect((await call(t, "history", { channel: `#${user}`, limit: -1, since: { offset: inbox.offset, epoch: "stale" } })).error?.code).toBe(112);
    await using s = await TestSocket.open(`${sys.gw(1).ws}/connection/websocket`);
    s.send({ id: 1, connect: { token: await signToken(user) } });
    s.send({ id: 2, history: { channel: `#${user}`, limit: -1, since: { offset: inbox.offset, epoch: "stale" } } });
    s.send({ id: 3, history: { channel: `#${user}`, limit: -1, since: { offset: 0, epoch: inbox.epoch } } });
    const replies = async () => {
      await waitFor("both history replies", () => s.messages.flatMap((m) => m.split("\n")).filter((l) => /"id":[23]\b/.test(l)).length === 2);
      return Object.fromEntries(s.messages.flatMap((m) => m.split("\n")).map((l) => JSON.parse(l) as { id?: number }).filter((r) => r.id === 2 || r.id === 3).map((r) => [r.id, r]));
    };
    const got = await replies();
    expect(got[2]).toMatchObject({ error: { code: 112 } });
    expect((got[3] as { history: { publications: Array<{ data: { body: string } }> } }).history.publications.map((p) => p.data.body)).toEqual(["one"]);
  });

  test("presence and presence_stats across both gateways; 108 where there is none", async () => {
    await using a = await client(0, `pr-a-${t}`);
    await using b = await client(1, `pr-b-${t}`);
    await a.subscribe(`chat:api-pr-${t}`);
    await b.subscribe(`chat:api-pr-${t}`);
    const p = (await call(t, "presence", { channel: `chat:api-pr-${t}` })).result as { presence: Record<string, { client: string; user: string }> };
    expect(p.presence).toEqual({ [a.clientId!]: { client: a.clientId!, user: `pr-a-${t}` }, [b.clientId!]: { client: b.clientId!, user: `pr-b-${t}` } });
    expect((await call(t, "presence_stats", { channel: `chat:api-pr-${t}` })).result).toEqual({ num_clients: 2, num_users: 2 });
    expect((await call(t, "presence", { channel: "#someone" })).error?.code).toBe(108);
    expect((await call(t, "presence_stats", { channel: "other:x" })).error?.code).toBe(102);
  });

  test("unsubscribe a user from a room on the other gateway: the SDK is told (unsubscribed, not resubscribing), presence drops it", async () => {
    const user = `unsub-${t}`;
    await using c = await client(1, user);
    await using keep = await client(0, `unsub-keep-${t}`);
    await c.subscribe(`chat:api-unsub-${t}`);
    await keep.subscribe(`chat:api-unsub-${t}`);
    expect((await call(t, "unsubscribe", { channel: `chat:api-unsub-${t}`, user })).result).toEqual({});
    await c.until(() => c.unsubscribes.some((u) => u.channel === `chat:api-unsub-${t}`), "the unsubscribe push");
    expect(c.unsubscribes[0]).toMatchObject({ code: 2000 });
    expect((await call(t, "presence_stats", { channel: `chat:api-unsub-${t}` })).result).toEqual({ num_clients: 1, num_users: 1 });
    expect(c.disconnects).toEqual([]);
    expect((await call(t, "unsubscribe", { channel: "chat:x", user: "" })).error?.code).toBe(107); // every anonymous connection at once: refused
  });

  test("disconnect closes every socket of the user on every gateway (protocol and /notifications) with 3503; the SDK does not reconnect", async () => {
    const user = `kick-${t}`;
    await using c = await client(1, user);
    await using n = await TestSocket.open(`${sys.gw(0).ws}/notifications?token=${await signToken(user)}`);
    await using bystander = await client(0, `kick-other-${t}`);
    expect((await call(t, "disconnect", { user })).result).toEqual({});
    expect(await n.closed()).toBe(3503);
    await c.until(() => c.disconnects.length > 0, "the disconnect");
    expect(c.disconnects[0]).toMatchObject({ code: 3503 });
    // The SDK tells "disconnected" only when it will not reconnect (for a code it reconnects on it
    // goes to "connecting"), so its state now is the answer.
    expect(String(c.centrifuge.state)).toBe("disconnected");
    // The bystander is on the gateway that closed n: a round trip on it after that.
    expect(await roundTrip(bystander)).toBe(108);
    expect(String(bystander.centrifuge.state)).toBe("connected");

    await using d = await client(0, user);
    await using other = await client(1, user);
    // 4500-4999: the SDKs do not reconnect (4000-4499 they do).
    expect((await call(t, "disconnect", { user, client: d.clientId, disconnect: { code: 4501, reason: "custom" } })).result).toEqual({});
    await d.until(() => d.disconnects.length > 0, "one client disconnected");
    expect(d.disconnects[0]).toEqual({ code: 4501, reason: "custom" });
    // The call returns once the gateways have answered, each after acting: a close of the other
    // client would have been written before the reply to a command sent now.
    expect(await roundTrip(other)).toBe(108);
    expect(String(other.centrifuge.state)).toBe("connected");
  });

  test("channels gathers every gateway's channels with counts (pattern filters); info has one node per gateway", async () => {
    await using a = await client(0, `ch-a-${t}`);
    await using b = await client(1, `ch-b-${t}`);
    await a.subscribe(`chat:api-ch-${t}`);
    await b.subscribe(`chat:api-ch-${t}`);
    await using legacy = await TestSocket.open(`${sys.gw(0).ws}/chat/api-ch-${t}`);
    await waitFor("three members", async () => ((await call(t, "channels", { pattern: `chat:api-ch-${t}` })).result as { channels: Record<string, { num_clients: number }> }).channels[`chat:api-ch-${t}`]?.num_clients === 3);
    const all = (await call(t, "channels", {})).result as { channels: Record<string, { num_clients: number }> };
    expect(all.channels[`#ch-a-${t}`]).toEqual({ num_clients: 1 });
    expect(all.channels[`chat:api-ch-${t}`]).toEqual({ num_clients: 3 });
    const filtered = (await call(t, "channels", { pattern: "#ch-?-*" })).result as { channels: Record<string, unknown> };
    expect(Object.keys(filtered.channels).sort()).toEqual([`#ch-a-${t}`, `#ch-b-${t}`]);
    const info = (await call(t, "info", {})).result as { nodes: Array<{ uid: string; num_clients: number; num_users: number; version: string }> };
    expect(info.nodes).toHaveLength(2);
    expect(new Set(info.nodes.map((x) => x.uid)).size).toBe(2);
    expect(info.nodes.every((x) => x.num_clients >= 1 && x.version.length > 0)).toBe(true);
  });

  test("batch: replies in order, each `{<method>: result}` or `{error}`, sequential and parallel", async () => {
    const commands = [
      { publish: { channel: `chat:api-batch-${t}`, data: { n: 1 } } },
      { publish: { channel: "news:1", data: {} } },
      { presence_stats: { channel: `chat:api-batch-${t}` } },
      { nope: {} },
      { history: { channel: `chat:api-batch-${t}`, limit: 5 } },
    ];
    for (const parallel of [false, true]) {
      const r = await call(t, "batch", { commands, parallel });
      expect(r.replies).toHaveLength(5);
      expect(r.replies![0]!.publish).toMatchObject({ offset: expect.any(Number) });
      expect(r.replies![1]!.error).toMatchObject({ code: 102 });
      expect(r.replies![2]!.presence_stats).toEqual({ num_clients: 0, num_users: 0 });
      expect(r.replies![3]!.error).toMatchObject({ code: 104 });
      expect((r.replies![4]!.history as { publications: unknown[] }).publications.length).toBeGreaterThan(0);
    }
    expect((await call(t, "batch", { commands: [] })).error?.code).toBe(107);
  });
});

describe("HTTP: auth and errors", () => {
  const post = (path: string, init: { headers?: Record<string, string>; body?: string | Uint8Array; method?: string }) =>
    fetch(`${sys.notifier!.http}${path}`, { method: init.method ?? "POST", headers: init.headers ?? {}, ...(init.body === undefined ? {} : { body: init.body }) });

  test("the key as X-API-Key, Authorization: apikey or Bearer; none or a wrong one: 401 with a JSON error", async () => {
    const accepted: Array<Record<string, string>> = [{ "x-api-key": KEY }, { authorization: `apikey ${KEY}` }, { authorization: `Bearer ${KEY}` }, { authorization: `APIKEY ${KEY}` }];
    for (const headers of accepted) {
      const r = await post("/api/info", { headers, body: "{}" });
      expect(r.status).toBe(200);
    }
    const refused: Array<Record<string, string>> = [{}, { "x-api-key": "wrong" }, { authorization: "apikey wrong" }, { authorization: KEY }, { "x-api-key": "wrong", authorization: `apikey ${KEY}` }];
    for (const headers of refused) {
      const r = await post("/api/info", { headers, body: "{}" });
      expect(r.status).toBe(401);
      expect(await r.json()).toEqual({ error: { code: 101, message: "unauthorized" } });
    }
  });

  test("400 for a body that is not JSON, 404 for an unknown method, 405 for GET, 413 over 1 MiB; 200 with an error for a bad request; an empty body is {}", async () => {
    const h = { "x-api-key": KEY };
    expect((await post("/api/publish", { headers: h, body: "not json" })).status).toBe(400);
    const unknown = await post("/api/nope", { headers: h, body: "{}" });
    expect([unknown.status, await unknown.json()]).toEqual([404, { error: { code: 104, message: "not found" } }]);
    expect((await post("/api/info", { headers: h, method: "GET" })).status).toBe(405);
    const big = await post("/api/publish", { headers: h, body: JSON.stringify({ channel: "chat:x", data: "x".repeat(1_100_000) }) });
    expect(big.status).toBe(413);
    expect(((await big.json()) as Answer).error?.code).toBe(107);
    const bad = await post("/api/publish", { headers: h, body: JSON.stringify({ channel: 5 }) });
    expect([bad.status, ((await bad.json()) as Answer).error?.code]).toEqual([200, 107]);
    const empty = await post("/api/info", { headers: h });
    expect(((await empty.json()) as Answer).result?.nodes).toHaveLength(2);
  });
});

describe("batch notifications", () => {
  const post = (body: unknown) => fetch(`${sys.notifier!.http}/notifications`, { method: "POST", headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" }, body: JSON.stringify(body) });

  test("an array of 1,000: each stored, each answered with its own id and seq, in order; every user's socket gets its own", async () => {
    await using s = await TestSocket.open(`${sys.gw(1).ws}/notifications?token=${await signToken("batch-user-7")}`);
    const items = Array.from({ length: 1000 }, (_, i) => ({ user_id: `batch-user-${i % 50}`, body: `n${i}` }));
    const r = await post(items);
    expect(r.status).toBe(202);
    const answers = (await r.json()) as Array<{ status: number; id: string; seq: number; epoch: string }>;
    expect(answers).toHaveLength(1000);
    expect(answers.every((a) => a.status === 202 && a.id.length > 0 && a.seq > 0)).toBe(true);
    expect(new Set(answers.map((a) => a.id)).size).toBe(1000);
    // One user's notifications keep the batch's order.
    const mine = answers.filter((_, i) => i % 50 === 7).map((a) => a.seq);
    expect(mine).toEqual([...mine].sort((x, y) => x - y));
    await s.waitForMessages(20);
    expect(s.messages.map((m) => (JSON.parse(m) as { body: string }).body)).toEqual(Array.from({ length: 20 }, (_, k) => `n${7 + 50 * k}`));
  });

  test("a bad item fails alone (207, its errors pointed into the array); an empty or too large batch is 400; over NATS the same", async () => {
    const r = await post([{ user_id: "b1", body: "ok" }, { user_id: "", body: "bad" }, { user_id: "b1", body: "ok 2", idempotency_key: "k" }]);
    expect(r.status).toBe(207);
    const answers = (await r.json()) as Array<{ status: number; errors?: Array<{ path: string }> }>;
    expect(answers.map((a) => a.status)).toEqual([202, 400, 202]);
    expect(answers[1]!.errors![0]!.path).toStartWith("/1/");
    expect((await post([])).status).toBe(400);
    expect((await post(Array.from({ length: 1001 }, () => ({ user_id: "x", body: "y" })))).status).toBe(400);
    const viaNats = JSON.parse(new TextDecoder().decode((await nc.request("notifier.send", JSON.stringify([{ user_id: "b2", body: "a" }, { user_id: "b2", body: "b" }]), { timeout: 10_000 })).data)) as Array<{ status: number; seq: number }>;
    expect(viaNats.map((a) => a.status)).toEqual([202, 202]);
    expect(viaNats[1]!.seq).toBeGreaterThan(viaNats[0]!.seq);
  });
});
