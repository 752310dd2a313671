// The proxies (docs/proxy.md) against a real nats-server with the shipped auth.conf: the gateway's
// side is its real NatsBroker logged in as `gateway` (requests answered under _INBOX_gateway.proxy.),
// backends are real NATS queue subscribers logged in as `backend` (in this process, or a child
// process killed mid-request).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, errors, type Msg, type NatsConnection } from "@nats-io/transport-node";
import pino from "pino";
import { INBOX_PREFIX, PROXY_SUBJECTS, REPLY_PREFIX, proxy, roomSubject, userStoreSubject, validator } from "@rt/protocol";
import { Metrics, createLogger } from "@rt/runtime";
import { NATS_ADMIN, ROOT, TestNats, natsAs, serviceNatsEnv, waitFor } from "@rt/testkit";
import { NatsBroker } from "../src/broker/nats-broker.ts";
import type { ProxyOutcome } from "../src/proxies/outcome.ts";
import { ProxyClient } from "../src/proxies/proxy-client.ts";
import type { ProxyConnection } from "../src/proxies/request-fields.ts";

let nats: TestNats;
let broker: NatsBroker;
let admin: NatsConnection;
const conns: NatsConnection[] = [];

beforeAll(async () => {
  nats = await TestNats.start({ jetstream: false });
  broker = new NatsBroker(createLogger("test", "silent"), INBOX_PREFIX.gateway);
  await broker.connect({ ...natsAs("gateway"), servers: [nats.url], name: "proxies-test", noEcho: true });
  admin = await connect({ ...NATS_ADMIN, servers: nats.url });
});
afterAll(async () => {
  for (const c of conns) await c.close().catch(() => undefined);
  await admin?.close();
  await broker?.close();
  await nats?.[Symbol.asyncDispose]();
});

/** A ProxyClient on the test's broker, with its own metrics and every warning it logs. */
function proxies(timeoutMs: number, opts: { logEveryMs?: number; httpHeaders?: string[]; requester?: NatsBroker } = {}) {
  const metrics = new Metrics();
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: "warn" }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const client = new ProxyClient({
    requester: opts.requester ?? broker,
    metrics,
    log,
    config: { timeoutMs, connect: true, refresh: true, httpHeaders: opts.httpHeaders ?? ["cookie", "authorization"] },
    ...(opts.logEveryMs === undefined ? {} : { logEveryMs: opts.logEveryMs }),
  });
  /** rt_proxy_results_total{proxy,result}. */
  const results = async (p: string, result: string): Promise<number> =>
    (await metrics.registry.getSingleMetric("rt_proxy_results_total")!.get()).values.find((v) => v.labels.proxy === p && v.labels.result === result)?.value ?? 0;
  /** rt_proxy_duration_seconds_count{proxy}. */
  const durations = async (p: string): Promise<number> =>
    (await metrics.registry.getSingleMetric("rt_proxy_duration_seconds")!.get()).values.find((v) => v.labels.proxy === p && (v as { metricName?: string }).metricName === "rt_proxy_duration_seconds_count")?.value ?? 0;
  return { client, lines, results, durations };
}

/** A connection as `backend` (the shipped user), with every permissions error it is told about. */
async function asBackend(): Promise<{ nc: NatsConnection; violations: string[] }> {
  const nc = await connect({ ...natsAs("backend"), servers: nats.url });
  conns.push(nc);
  const violations: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === "error" && s.error instanceof errors.PermissionViolationError) violations.push(`${s.error.operation} ${s.error.subject}`);
  })();
  return { nc, violations };
}

/** `nc` serves `subject` in queue group `backends` with `handle` until disposed (subscribed at the server before this resolves). */
async function serve(nc: NatsConnection, subject: string, handle: (msg: Msg) => void): Promise<AsyncDisposable> {
  const sub = nc.subscribe(subject, { queue: "backends", callback: (_err, msg) => handle(msg) });
  await nc.flush();
  return {
    async [Symbol.asyncDispose]() {
      sub.unsubscribe();
      await nc.flush();
    },
  };
}

const conn = (over: Partial<ProxyConnection> = {}): ProxyConnection => ({ client: "c-1", transport: "websocket", protocol: "json", user: "alice", ...over });
const b64 = (text: string): string => Buffer.from(text).toString("base64");
const INTERNAL = { code: 100, message: "internal server error", temporary: true };

/** Every kind asked once through `client` (the same request whatever the backend). */
const ASK: Record<proxy.ProxyName, (c: ProxyClient) => Promise<ProxyOutcome<unknown>>> = {
  connect: (c) => c.connect({ client: "c-1", transport: "websocket", protocol: "json", headers: {}, remoteAddr: "127.0.0.1" }),
  refresh: (c) => c.refresh(conn()),
  subscribe: (c) => c.subscribe(conn(), "club:lobby"),
  publish: (c) => c.publish(conn(), "club:lobby", { text: "hi" }),
  sub_refresh: (c) => c.subRefresh(conn(), "club:lobby"),
  rpc: (c) => c.rpc(conn(), "get_profile", { id: 1 }),
};
const SUBJECT: Record<proxy.ProxyName, string> = { ...PROXY_SUBJECTS, rpc: "rpc.get_profile" };

describe("requests: one JSON body per kind with Centrifugo's fields, replies under _INBOX_gateway.proxy.", () => {
  test("the upgrade request's headers named in PROXY_HTTP_HEADERS, by lower-case name, from a real HTTP request", async () => {
    const { client } = proxies(1000, { httpHeaders: ["cookie", "authorization", "x-real-ip"] });
    let picked: Record<string, string> = {};
    using server = Bun.serve({ port: 0, fetch: (req) => ((picked = client.headers(req.headers)), new Response("ok")) });
    await fetch(`http://127.0.0.1:${server.port}/connection/websocket`, { headers: { Cookie: "session=abc; theme=dark", AUTHORIZATION: "Bearer t", "X-Other": "not listed" } });
    expect(picked).toEqual({ cookie: "session=abc; theme=dark", authorization: "Bearer t" });
  });

  test("each kind: exactly the documented fields, valid against its schema, on its subject", async () => {
    const { nc } = await asBackend();
    const seen: Array<{ subject: string; reply: string; body: unknown }> = [];
    const answers: Record<string, string> = { "proxy.connect": '{"result":{"user":"alice"}}' };
    // One wildcard subscriber per family: the backend user may subscribe to proxy.> and rpc.>.
    const respond = (m: Msg) => {
      seen.push({ subject: m.subject, reply: m.reply ?? "", body: m.json() });
      m.respond(answers[m.subject] ?? '{"result":{}}');
    };
    await using _p = await serve(nc, "proxy.>", respond);
    await using _r = await serve(nc, "rpc.>", respond);
    const { client } = proxies(2000);
    const meta = { plan: "pro" };
    const common = { client: "c-1", transport: "websocket", protocol: "json", encoding: "json" };
    const cases: Array<[proxy.ProxyName, () => Promise<ProxyOutcome<unknown>>, object]> = [
      ["connect", () => client.connect({ client: "c-1", transport: "websocket", protocol: "json", name: "js", version: "5.8.0", data: { hello: 1 }, headers: { cookie: "session=abc" }, remoteAddr: "10.0.0.7" }),
        { ...common, name: "js", version: "5.8.0", data: { hello: 1 }, headers: { cookie: "session=abc" }, remote_addr: "10.0.0.7" }],
      ["connect", () => client.connect({ client: "c-2", transport: "websocket", protocol: "protobuf", headers: {}, remoteAddr: "" }),
        { ...common, client: "c-2", protocol: "protobuf", headers: {}, remote_addr: "" }],
      ["refresh", () => client.refresh(conn({ meta })), { ...common, user: "alice", meta }],
      ["refresh", () => client.refresh(conn({ user: "" })), { ...common, user: "" }],
      ["subscribe", () => client.subscribe(conn({ meta }), "club:lobby", { want: "in" }), { ...common, user: "alice", channel: "club:lobby", data: { want: "in" }, meta }],
      ["subscribe", () => client.subscribe(conn(), "club:lobby"), { ...common, user: "alice", channel: "club:lobby" }],
      ["publish", () => client.publish(conn(), "club:lobby", { text: "hi" }), { ...common, user: "alice", channel: "club:lobby", data: { text: "hi" } }],
      ["publish", () => client.publish(conn(), "club:lobby", null), { ...common, user: "alice", channel: "club:lobby", data: null }],
      ["sub_refresh", () => client.subRefresh(conn({ meta }), "club:lobby"), { ...common, user: "alice", channel: "club:lobby", meta }],
      ["rpc", () => client.rpc(conn(), "get_profile", { id: 7 }), { ...common, user: "alice", method: "get_profile", data: { id: 7 } }],
      ["rpc", () => client.rpc(conn(), "ping"), { ...common, user: "alice", method: "ping" }],
    ];
    const schemas = { connect: proxy.ConnectRequest, refresh: proxy.RefreshRequest, subscribe: proxy.SubscribeRequest, publish: proxy.PublishRequest, sub_refresh: proxy.SubRefreshRequest, rpc: proxy.RpcRequest };
    for (const [kind, ask, body] of cases) {
      const before = seen.length;
      expect({ kind, outcome: (await ask()).kind }).toEqual({ kind, outcome: "result" });
      expect(seen.length).toBe(before + 1);
      const got = seen.at(-1)!;
      expect({ kind, body: got.body }).toEqual({ kind, body });
      expect({ kind, valid: validator(schemas[kind]).check(got.body) }).toEqual({ kind, valid: true });
      expect(got.subject).toBe(kind === "rpc" ? `rpc.${(body as { method: string }).method}` : PROXY_SUBJECTS[kind as keyof typeof PROXY_SUBJECTS]);
      expect(got.reply.startsWith(REPLY_PREFIX.proxy)).toBe(true);
    }
  });

  test("an RPC method that cannot be a subject token is 107 at once, asked of nobody", async () => {
    const { client, results } = proxies(1000);
    for (const method of ["", "a.b", "a b", "x".repeat(65), "rpc.>"]) {
      expect(await client.rpc(conn(), method)).toEqual({ kind: "error", error: { code: 107, message: "bad request", temporary: false } });
    }
    expect(await results("rpc", "no_responders")).toBe(0);
  });
});

describe("answers: each kind maps to what the gateway applies", () => {
  const NEVER = { expiresAt: undefined, info: undefined, infoBytes: undefined, data: undefined, override: undefined };
  const CASES: Array<[proxy.ProxyName, unknown, ProxyOutcome<unknown>]> = [
    ["connect", { result: { user: "alice" } }, { kind: "result", result: { user: "alice", expiresAt: undefined, info: undefined, infoBytes: undefined, data: undefined, subs: new Map(), meta: undefined } }],
    ["connect", { result: { user: "" } }, { kind: "result", result: { user: "", expiresAt: undefined, info: undefined, infoBytes: undefined, data: undefined, subs: new Map(), meta: undefined } }],
    ["connect", {
      result: {
        user: "alice", expire_at: 2_000_000_000, info: { name: "Alice" }, data: { welcome: true }, channels: ["news:all", "club:lobby"], meta: { plan: "pro" },
        subs: { "club:lobby": { expire_at: 2_000_000_100, info: { role: "member" }, b64data: b64('{"n":1}'), override: { presence: { value: false }, join_leave: {} } } },
      },
    }, {
      kind: "result",
      result: {
        user: "alice", expiresAt: 2_000_000_000_000, info: { name: "Alice" }, infoBytes: undefined, data: { welcome: true }, meta: { plan: "pro" },
        subs: new Map<string, unknown>([["news:all", NEVER], ["club:lobby", { expiresAt: 2_000_000_100_000, info: { role: "member" }, infoBytes: undefined, data: { n: 1 }, override: { presence: false, join_leave: false } }]]),
      },
    }],
    ["connect", { result: { user: "bob", expire_at: 0, info: { ignored: true }, b64info: b64("raw"), b64data: b64('"hi"'), data: "ignored" } },
      { kind: "result", result: { user: "bob", expiresAt: undefined, info: undefined, infoBytes: new Uint8Array(Buffer.from("raw")), data: "hi", subs: new Map(), meta: undefined } }],
    ["connect", { error: { code: 403, message: "no session" } }, { kind: "error", error: { code: 403, message: "no session", temporary: false } }],
    ["connect", { error: { code: 1000, temporary: true } }, { kind: "error", error: { code: 1000, message: "", temporary: true } }],
    ["connect", { disconnect: { code: 4501, reason: "unauthorized" } }, { kind: "disconnect", disconnect: { code: 4501, reason: "unauthorized" } }],
    ["connect", { disconnect: { code: 4000 } }, { kind: "disconnect", disconnect: { code: 4000, reason: "" } }],
    ["refresh", { result: { expired: true } }, { kind: "result", result: { expired: true, expiresAt: undefined, info: undefined, infoBytes: undefined } }],
    ["refresh", { result: { expire_at: 1_900_000_000, info: { v: 2 } } }, { kind: "result", result: { expired: false, expiresAt: 1_900_000_000_000, info: { v: 2 }, infoBytes: undefined } }],
    ["refresh", { error: { code: 500, message: "db down", temporary: true } }, { kind: "error", error: { code: 500, message: "db down", temporary: true } }],
    ["refresh", { disconnect: { code: 4503, reason: "banned" } }, { kind: "disconnect", disconnect: { code: 4503, reason: "banned" } }],
    ["subscribe", { result: {} }, { kind: "result", result: NEVER }],
    ["subscribe", { result: { expire_at: 1_900_000_000, b64info: b64("\u0000\u0001"), data: [1, 2], override: { force_recovery: { value: true }, force_positioning: { value: false }, force_push_join_leave: { value: true } } } },
      { kind: "result", result: { expiresAt: 1_900_000_000_000, info: undefined, infoBytes: new Uint8Array([0, 1]), data: [1, 2], override: { force_recovery: true, force_positioning: false, force_push_join_leave: true } } }],
    ["subscribe", { error: { code: 103, message: "permission denied" } }, { kind: "error", error: { code: 103, message: "permission denied", temporary: false } }],
    ["subscribe", { disconnect: { code: 4500, reason: "go away" } }, { kind: "disconnect", disconnect: { code: 4500, reason: "go away" } }],
    ["publish", { result: {} }, { kind: "result", result: { data: undefined, skipHistory: false } }],
    ["publish", { result: { data: null, skip_history: true } }, { kind: "result", result: { data: null, skipHistory: true } }],
    ["publish", { result: { data: { text: "hi", author: "Alice" }, b64data: b64('{"text":"hi","author":"Alice (b64)"}') } }, { kind: "result", result: { data: { text: "hi", author: "Alice (b64)" }, skipHistory: false } }],
    ["publish", { error: { code: 1001, message: "too long" } }, { kind: "error", error: { code: 1001, message: "too long", temporary: false } }],
    ["sub_refresh", { result: { expired: true } }, { kind: "result", result: { expired: true, expiresAt: undefined, info: undefined, infoBytes: undefined } }],
    ["sub_refresh", { result: { expire_at: 1_900_000_001 } }, { kind: "result", result: { expired: false, expiresAt: 1_900_000_001_000, info: undefined, infoBytes: undefined } }],
    ["rpc", { result: { data: { name: "Alice" } } }, { kind: "result", result: { data: { name: "Alice" } } }],
    ["rpc", { result: {} }, { kind: "result", result: { data: undefined } }],
    ["rpc", { result: { b64data: b64("[true]") } }, { kind: "result", result: { data: [true] } }],
    ["rpc", { error: { code: 404, message: "no such profile" } }, { kind: "error", error: { code: 404, message: "no such profile", temporary: false } }],
    ["rpc", { disconnect: { code: 4001, reason: "bye" } }, { kind: "disconnect", disconnect: { code: 4001, reason: "bye" } }],
  ];

  test(`${CASES.length} answers over NATS, every kind and every form`, async () => {
    const { nc } = await asBackend();
    let answer = "";
    await using _p = await serve(nc, "proxy.>", (m) => m.respond(answer));
    await using _r = await serve(nc, "rpc.>", (m) => m.respond(answer));
    const { client, results, lines } = proxies(2000);
    for (const [kind, sent, expected] of CASES) {
      answer = JSON.stringify(sent);
      expect({ kind, sent, got: await ASK[kind](client) }).toEqual({ kind, sent, got: expected });
    }
    expect(lines).toEqual([]);
    expect(await results("connect", "ok")).toBe(4);
    expect(await results("connect", "error")).toBe(2);
    expect(await results("connect", "disconnect")).toBe(2);
    expect(await results("rpc", "ok")).toBe(3);
  });
});

describe("faults: the client never waits past PROXY_TIMEOUT", () => {
  test("a backend that never answers: a temporary 100 at PROXY_TIMEOUT, counted; every kind at once", async () => {
    const { nc } = await asBackend();
    await using _p = await serve(nc, "proxy.>", () => undefined);
    await using _r = await serve(nc, "rpc.>", () => undefined);
    const timeoutMs = 400;
    const { client, results, durations, lines } = proxies(timeoutMs);
    const t0 = performance.now();
    const outcomes = await Promise.all(proxy.PROXY_KINDS.map(async (kind) => {
      const outcome = await ASK[kind](client);
      return { kind, outcome, ms: performance.now() - t0 };
    }));
    for (const { kind, outcome, ms } of outcomes) {
      expect({ kind, outcome }).toEqual({ kind, outcome: { kind: "error", error: INTERNAL, failure: "timeout" } });
      expect(ms).toBeGreaterThanOrEqual(timeoutMs - 5);
      expect(ms).toBeLessThan(timeoutMs + 2000);
      expect(await results(kind, "timeout")).toBe(1);
      expect(await durations(kind)).toBe(1);
    }
    expect(lines.map((l) => [l.proxy, l.failure, l.subject])).toEqual(expect.arrayContaining(proxy.PROXY_KINDS.map((k) => [k, "timeout", SUBJECT[k]])));
  });

  const GARBAGE: Array<[string, proxy.ProxyName, string, string]> = [
    ["not JSON", "connect", "welcome!", ""],
    ["empty", "subscribe", "", ""],
    ["an array", "publish", "[1,2]", ""],
    ["the old bare RPC answer", "rpc", '{"name":"Alice"}', ""],
    ["a typo (expireAt)", "connect", '{"result":{"user":"alice","expireAt":1}}', "/result/expireAt"],
    ["no user", "connect", '{"result":{}}', "/result"],
    ["a user that cannot be one", "connect", '{"result":{"user":"a\\u0000b"}}', "/result/user"],
    ["result and error both", "refresh", '{"result":{},"error":{"code":400}}', ""],
    ["an error code out of range", "subscribe", '{"error":{"code":4501}}', "/error/code"],
    ["a close code out of range", "publish", '{"disconnect":{"code":1000}}', "/disconnect/code"],
    ["a close reason over 123 bytes", "connect", JSON.stringify({ disconnect: { code: 4500, reason: "é".repeat(62) } }), "/disconnect/reason"],
    ["b64data that is not base64", "rpc", '{"result":{"b64data":"%%%"}}', "/result/b64data"],
    ["b64data that is not JSON", "rpc", `{"result":{"b64data":"${b64('{"a":')}"}}`, "/result/b64data"],
    ["data nested too deep", "publish", `{"result":{"data":${"[".repeat(70)}${"]".repeat(70)}}}`, "/result/data"],
    ["an override that is not one", "subscribe", '{"result":{"override":{"presence":true}}}', "/result/override/presence"],
    ["a string expire_at", "sub_refresh", '{"result":{"expire_at":"1900000000"}}', "/result/expire_at"],
  ];

  test.each(GARBAGE)("garbage (%s): a temporary 100 and a log line with the subject and where it is wrong", async (_what, kind, answer, path) => {
    const { nc } = await asBackend();
    await using _b = await serve(nc, SUBJECT[kind], (m) => m.respond(answer));
    const { client, results, lines } = proxies(2000);
    expect(await ASK[kind](client)).toEqual({ kind: "error", error: INTERNAL, failure: "malformed" });
    expect(await results(kind, "malformed")).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, proxy: kind, subject: SUBJECT[kind], failure: "malformed" });
    expect((lines[0]!.problems as Array<{ path: string }>).map((p) => p.path)).toContain(path);
    expect(JSON.stringify(lines[0])).not.toContain("Alice"); // never the bodies
  });

  test("malformed answers are logged at most once per kind in the window, all counted", async () => {
    const { nc } = await asBackend();
    await using _b = await serve(nc, "proxy.>", (m) => m.respond("garbage"));
    const { client, results, lines } = proxies(2000, { logEveryMs: 60_000 });
    for (let i = 0; i < 5; i++) await client.subscribe(conn(), "club:lobby");
    await client.publish(conn(), "club:lobby", 1);
    expect(await results("subscribe", "malformed")).toBe(5);
    expect(lines.map((l) => `${l.proxy}:${l.failure}`)).toEqual(["subscribe:malformed", "publish:malformed"]);
  });

  test("nobody serving the subject: answered at once, 108 for rpc and a temporary 100 for the others", async () => {
    const { client, results } = proxies(5000);
    for (const kind of proxy.PROXY_KINDS) {
      const t0 = performance.now();
      const outcome = await ASK[kind](client);
      const ms = performance.now() - t0;
      const error = kind === "rpc" ? { code: 108, message: "not available", temporary: false } : INTERNAL;
      expect({ kind, outcome }).toEqual({ kind, outcome: { kind: "error", error, failure: "no_responders" } });
      expect({ kind, fast: ms < 2500 }).toEqual({ kind, fast: true });
      expect(await results(kind, "no_responders")).toBe(1);
    }
  });

  test("two backend instances share the load (one queue group): each request answered once, by one of them", async () => {
    const a = await asBackend();
    const b = await asBackend();
    const by = { a: 0, b: 0 };
    await using _a = await serve(a.nc, PROXY_SUBJECTS.subscribe, (m) => (by.a++, m.respond('{"result":{"data":"a"}}')));
    await using _b = await serve(b.nc, PROXY_SUBJECTS.subscribe, (m) => (by.b++, m.respond('{"result":{"data":"b"}}')));
    const { client } = proxies(2000);
    const outcomes = await Promise.all(Array.from({ length: 200 }, () => client.subscribe(conn(), "club:lobby")));
    const answeredBy = outcomes.map((o) => (o.kind === "result" ? o.result.data : o.kind));
    expect(answeredBy.filter((x) => x !== "a" && x !== "b")).toEqual([]);
    expect(by.a + by.b).toBe(200);
    expect(by.a).toBeGreaterThan(0);
    expect(by.b).toBeGreaterThan(0);
  });

  test("a backend process killed mid-request: a temporary 100 at PROXY_TIMEOUT, no hang; the next request finds no responders at once", async () => {
    const proc = Bun.spawn(["bun", "run", "services/gateway/test/fixtures/silent-backend.ts"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", NATS_URL: nats.url, ...serviceNatsEnv("backend"), SUBJECT: PROXY_SUBJECTS.publish },
      stdout: "pipe",
      stderr: "inherit",
    });
    try {
      let out = "";
      void (async () => {
        for await (const chunk of proc.stdout) out += new TextDecoder().decode(chunk);
      })();
      await waitFor("the backend process subscribed", () => out.includes("ready"), 15_000);
      const timeoutMs = 1000;
      const { client, results } = proxies(timeoutMs);
      const t0 = performance.now();
      const pending = client.publish(conn(), "club:lobby", { text: "hi" });
      await waitFor("the request reached the backend", () => out.includes(`got ${PROXY_SUBJECTS.publish}`), 5000, 5);
      proc.kill("SIGKILL");
      await proc.exited;
      expect(await pending).toEqual({ kind: "error", error: INTERNAL, failure: "timeout" });
      const ms = performance.now() - t0;
      expect(ms).toBeGreaterThanOrEqual(timeoutMs - 5);
      expect(ms).toBeLessThan(timeoutMs + 2000);
      expect(await results("publish", "timeout")).toBe(1);
      // Its subscription went with it.
      await waitFor("the server dropped the dead backend's subscription", async () => (await client.publish(conn(), "club:lobby", 1)).kind === "error" && (await results("publish", "no_responders")) > 0, 10_000);
    } finally {
      proc.kill("SIGKILL");
    }
  });
});

describe("permissions (deploy/nats/auth.conf): backends answer only under the gateways' proxy prefix", () => {
  test.each([
    ["a gateway's own inbox (its JetStream replies and acks)", `${INBOX_PREFIX.gateway}.AbCdEfGhIjKl.1`],
    ["a gateway's inbox for other gateways' answers", `${REPLY_PREFIX.gather}AbC.1`],
    ["a room", roomSubject("lobby")],
    ["an inbox's store", userStoreSubject("victim")],
    ["the purge of ROOMS", "$JS.API.STREAM.PURGE.ROOMS"],
  ])("a proxy request whose reply names %s: the backend's answer is a permissions error, nothing arrives", async (_what, reply) => {
    const { nc, violations } = await asBackend();
    await using _b = await serve(nc, "proxy.>", (m) => m.respond('{"result":{"user":"mallory"}}'));
    let seen = 0;
    const watch = admin.subscribe(reply, { callback: () => void seen++ });
    await admin.flush();
    admin.publish(PROXY_SUBJECTS.connect, "{}", { reply });
    await waitFor("the answer refused", () => violations.includes(`publish ${reply}`));
    // Positive control: the same backend's answer under the proxy prefix arrives.
    const good = `${REPLY_PREFIX.proxy}test.1`;
    const control = admin.subscribe(good, { max: 1 });
    await admin.flush();
    admin.publish(PROXY_SUBJECTS.connect, "{}", { reply: good });
    for await (const m of control) expect(m.json()).toEqual({ result: { user: "mallory" } });
    await admin.flush();
    watch.unsubscribe();
    expect(seen).toBe(0);
  });

  test("a backend cannot send proxy requests itself (only gateways do), nor listen to the gateways' inboxes", async () => {
    const { nc, violations } = await asBackend();
    let seen = 0;
    const watch = admin.subscribe("proxy.>", { callback: () => void seen++ });
    await admin.flush();
    nc.publish(PROXY_SUBJECTS.connect, "{}", { reply: `${REPLY_PREFIX.proxy}x.1` });
    await waitFor("the publish refused", () => violations.includes(`publish ${PROXY_SUBJECTS.connect}`));
    const sub = nc.subscribe(`${REPLY_PREFIX.proxy}>`);
    const ended = await (async () => {
      try {
        for await (const _ of sub) void _;
        return "ended";
      } catch (err) {
        return err instanceof errors.PermissionViolationError ? "refused" : String(err);
      }
    })();
    expect(ended).toBe("refused");
    await admin.flush();
    watch.unsubscribe();
    expect(seen).toBe(0);
  });
});

describe("the gateway's NATS link drops mid-request", () => {
  test("the pending request fails at once (a temporary 100), well before PROXY_TIMEOUT", async () => {
    await using own = await TestNats.start({ jetstream: false });
    const gw = new NatsBroker(createLogger("test", "silent"), INBOX_PREFIX.gateway);
    await gw.connect({ ...natsAs("gateway"), servers: [own.url], name: "proxies-link-test", noEcho: true });
    const backend = await connect({ ...natsAs("backend"), servers: own.url, maxReconnectAttempts: 0 });
    let got = 0;
    backend.subscribe(PROXY_SUBJECTS.connect, { queue: "backends", callback: () => void got++ });
    await backend.flush();
    const { client, results } = proxies(10_000, { requester: gw });
    const t0 = performance.now();
    const pending = client.connect({ client: "c-1", transport: "websocket", protocol: "json", headers: {}, remoteAddr: "" });
    await waitFor("the request reached the backend", () => got === 1, 5000, 5);
    await own.stop(true);
    expect(await pending).toEqual({ kind: "error", error: INTERNAL, failure: "unavailable" });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(await results("connect", "unavailable")).toBe(1);
    // While NATS is away, a new request is answered at once too.
    const t1 = performance.now();
    expect(await client.rpc(conn(), "get_profile")).toEqual({ kind: "error", error: INTERNAL, failure: "unavailable" });
    expect(performance.now() - t1).toBeLessThan(1000);
    await backend.close().catch(() => undefined);
    await gw.close().catch(() => undefined);
  });
});
