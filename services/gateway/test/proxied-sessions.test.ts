// The proxies wired into client sessions (docs/proxy.md): two real gateways on a real nats-server
// with the shipped auth.conf, and backends logged in as `backend` answering proxy.* and rpc.* —
// one in this process whose answers each test scripts (and which answers garbage, or never), one
// child process killed mid-request, and `bun run example:backend` as a process of its own. Clients
// are raw sockets and the official SDK, with a cookie on the upgrade request.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type Msg, type NatsConnection, type Subscription as NatsSubscription } from "@nats-io/transport-node";
import { Centrifuge } from "centrifuge";
import { Centrifuge as ProtobufCentrifuge } from "centrifuge/build/protobuf";
import { ROOT, SdkClient, TEST_NATS_PASSWORDS, TestSocket, TestSystem, metric, natsAs, signToken, waitFor } from "@rt/testkit";

type Json = Record<string, unknown>;
/** What a scripted backend does with one request: answer this JSON, send these raw bytes, or never answer. */
type Answer = Json | { raw: string } | "silent";

const FILE = {
  channel: {
    namespaces: [
      // The backend decides subscribes and publishes, and renews subscriptions.
      { name: "p", subscribe_proxy_enabled: true, publish_proxy_enabled: true, sub_refresh_proxy_enabled: true, history_size: 10, history_ttl: "300s" },
      // No history: core NATS; subscribes by the backend, publishes by the policy.
      { name: "live", subscribe_proxy_enabled: true, allow_publish_for_client: true },
      { name: "plain", allow_subscribe_for_client: true, allow_publish_for_client: true },
      { name: "pres", allow_subscribe_for_client: true, presence: true, join_leave: true, force_push_join_leave: true, allow_presence_for_subscriber: true },
    ],
  },
};
const PROXY_TIMEOUT_MS = 600;

let dir: string;
let sys: TestSystem;
let backend: NatsConnection;
/** Every request the scripted backend got, in order. */
const asked: Array<{ subject: string; req: Json }> = [];
/** What it answers, by subject (absent: `{"result": {}}`). */
const script = new Map<string, (req: Json) => Answer>();
const serving = new Map<string, NatsSubscription>();

/** The scripted backend serves `subject` (queue group `backends`), subscribed at the server before this resolves. */
async function serve(subject: string): Promise<void> {
  serving.set(subject, backend.subscribe(subject, {
    queue: "backends",
    callback: (_err, msg: Msg) => {
      const req = msg.json<Json>();
      asked.push({ subject: msg.subject, req });
      const a = (script.get(msg.subject) ?? (() => ({ result: {} })))(req);
      if (a === "silent") return;
      msg.respond("raw" in a && typeof a.raw === "string" ? a.raw : JSON.stringify(a));
    },
  }));
  await backend.flush();
}
async function unserve(subject: string): Promise<void> {
  serving.get(subject)?.unsubscribe();
  serving.delete(subject);
  await backend.flush();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rt-proxied-"));
  const file = join(dir, "channels.json");
  writeFileSync(file, JSON.stringify(FILE));
  sys = await TestSystem.start({
    gateways: 2,
    gatewayEnv: { CHANNELS_FILE: file, PROXY_CONNECT: "1", PROXY_REFRESH: "1", PROXY_HTTP_HEADERS: "Cookie,X-Test", PROXY_TIMEOUT: `${PROXY_TIMEOUT_MS}ms` },
  });
  backend = await connect({ ...natsAs("backend"), servers: sys.natsUrl });
  for (const s of ["proxy.connect", "proxy.refresh", "proxy.subscribe", "proxy.publish", "proxy.sub_refresh", "rpc.echo"]) await serve(s);
});
afterAll(async () => {
  await backend?.close();
  await sys?.[Symbol.asyncDispose]();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const url = (gw: number) => `${sys.gw(gw).ws}/connection/websocket`;
const requests = (subject: string): Json[] => asked.filter((a) => a.subject === subject).map((a) => a.req);
const unix = (msFromNow: number): number => Math.ceil((Date.now() + msFromNow) / 1000);
const INTERNAL = { code: 100, message: "internal server error", temporary: true };

function replies(s: TestSocket): Json[] {
  return s.messages.flatMap((m) => m.split("\n")).map((l) => JSON.parse(l) as Json);
}
async function reply(s: TestSocket, id: number, timeoutMs = 5000): Promise<Json> {
  await s.until(() => replies(s).some((r) => r.id === id), `reply ${id}`, timeoutMs);
  return replies(s).find((r) => r.id === id)!;
}
/** A raw client-protocol socket with `cookie` on its upgrade request (and `x-test`, also carried; `x-other` is not listed). */
async function open(gw: number, cookie: string): Promise<TestSocket> {
  return TestSocket.open(url(gw), { headers: { Cookie: cookie, "X-Test": "yes", "X-Other": "no" } });
}
/** A raw socket connected through proxy.connect as `user` (the scripted connect answer is `connectAnswer`). */
async function proxied(gw: number, user: string, extra: Json = {}): Promise<TestSocket> {
  script.set("proxy.connect", (req) => ((req.headers as Json).cookie === `session=${user}` ? { result: { user, ...extra } } : { disconnect: { code: 4501, reason: "unauthorized" } }));
  const s = await open(gw, `session=${user}`);
  s.send({ id: 1, connect: {} });
  expect((await reply(s, 1)).connect).toBeDefined();
  return s;
}

/** centrifuge-js with `cookie` on its upgrade request: Bun's WebSocket takes headers in its constructor's options. Its Protobuf build with `protobuf`. */
function sdk(gw: number, cookie: string | undefined, opts: Json = {}, protobuf = false): SdkClient {
  class CookieWebSocket extends WebSocket {
    constructor(u: string | URL, protocols?: string | string[]) {
      super(u, { headers: cookie === undefined ? {} : { cookie }, ...(protocols === undefined ? {} : { protocols }) } as unknown as string[]);
    }
  }
  const options = { websocket: CookieWebSocket, minReconnectDelay: 50, maxReconnectDelay: 300, timeout: 5000, ...opts };
  return new SdkClient(protobuf ? (new ProtobufCentrifuge(url(gw), options) as unknown as Centrifuge) : new Centrifuge(url(gw), options));
}
const fromBytes = (b: unknown): unknown => JSON.parse(new TextDecoder().decode(b as Uint8Array));

describe("connect (PROXY_CONNECT=1)", () => {
  test("the SDK's cookie reaches proxy.connect; the answer's user, data, channels, subs and meta apply; later requests carry the meta", async () => {
    asked.length = 0;
    script.set("proxy.connect", (req) => {
      if (!/(?:^|; )session=s-ann(?:;|$)/.test(String((req.headers as Json).cookie))) return { disconnect: { code: 4501, reason: "unauthorized" } };
      return { result: { user: "ann", data: { welcome: "ann" }, channels: ["plain:ann-news"], subs: { "p:ann-room": { data: { n: 1 }, info: { role: "owner" } } }, meta: { plan: "pro" } } };
    });
    script.set("rpc.echo", (req) => ({ result: { data: { user: req.user, meta: req.meta ?? null, client: req.client, transport: req.transport } } }));
    await using c = sdk(0, "theme=dark; session=s-ann", { data: { hello: 1 }, name: "js-test", version: "9.9" });
    let connectData: unknown;
    c.centrifuge.on("connected", (ctx) => void (connectData = ctx.data));
    await c.connect();
    expect(connectData).toEqual({ welcome: "ann" });
    const [req] = requests("proxy.connect");
    expect(req).toEqual({ client: c.clientId, transport: "websocket", protocol: "json", encoding: "json", name: "js-test", version: "9.9", data: { hello: 1 }, headers: { cookie: "theme=dark; session=s-ann" }, remote_addr: "127.0.0.1" });
    expect(await c.centrifuge.rpc("echo", {})).toEqual({ data: { user: "ann", meta: { plan: "pro" }, client: c.clientId, transport: "websocket" } });
    // The server-side channels: publications of another client (on the other gateway) reach the SDK.
    await using other = await proxied(1, "ann-friend");
    other.send({ id: 2, publish: { channel: "plain:ann-news", data: { text: "news" } } });
    expect((await reply(other, 2)).publish).toEqual({});
    await c.waitFor("plain:ann-news", 1);
    other.send({ id: 3, publish: { channel: "p:ann-room", data: { text: "room" } } });
    expect((await reply(other, 3)).publish).toEqual({});
    await c.waitFor("p:ann-room", 1);
    expect(c.data("p:ann-room")).toEqual([{ text: "room" }]);
  });

  test("the Protobuf SDK: the proxies' data arrives as the bytes of its JSON (connect, subscribe, rpc); the request says protocol protobuf", async () => {
    asked.length = 0;
    script.set("proxy.connect", () => ({ result: { user: "pb-pam", data: { welcome: "pb" } } }));
    script.set("proxy.subscribe", () => ({ result: { data: { granted: "pb" } } }));
    script.set("rpc.echo", (req) => ({ result: { data: { echo: req.data, protocol: req.protocol } } }));
    await using c = sdk(1, "session=pb", {}, true);
    let connectData: unknown;
    c.centrifuge.on("connected", (ctx) => void (connectData = ctx.data));
    await c.connect();
    expect(fromBytes(connectData)).toEqual({ welcome: "pb" });
    expect(requests("proxy.connect")[0]).toMatchObject({ protocol: "protobuf", headers: { cookie: "session=pb" } });
    const sub = c.subscription("live:pb");
    let subscribeData: unknown;
    sub.on("subscribed", (ctx) => void (subscribeData = ctx.data));
    sub.subscribe();
    await sub.ready(5000);
    expect(fromBytes(subscribeData)).toEqual({ granted: "pb" });
    const r = await c.centrifuge.rpc("echo", new TextEncoder().encode(JSON.stringify({ q: 1 })));
    expect(fromBytes(r.data)).toEqual({ echo: { q: 1 }, protocol: "protobuf" });
  });

  test("the raw connect reply: data, subs with the proxy's data, no expires (the gateway refreshes); headers not listed are not sent", async () => {
    asked.length = 0;
    await using s = await proxied(1, "raw-bea", { data: { a: 1 }, subs: { "live:bea": { data: { b: 2 } } }, expire_at: unix(60_000) });
    const r = replies(s).find((x) => x.id === 1)!.connect as Json;
    expect(r).toMatchObject({ data: { a: 1 }, subs: { "live:bea": { data: { b: 2 } }, "#raw-bea": {} } });
    expect(r.expires).toBeUndefined();
    expect(requests("proxy.connect")[0]!.headers).toEqual({ cookie: "session=raw-bea", "x-test": "yes" });
  });

  test("a disconnect answer closes with its code (4501: the SDK stops)", async () => {
    await using c = sdk(0, "session=nobody");
    c.centrifuge.connect();
    await c.until(() => c.disconnects.length > 0, "disconnected");
    expect(c.disconnects).toEqual([{ code: 4501, reason: "unauthorized" }]);
  });

  test("an error answer reaches the client as it is; the connection may connect again", async () => {
    script.set("proxy.connect", () => ({ error: { code: 1001, message: "try later", temporary: true } }));
    await using s = await open(0, "session=x");
    s.send({ id: 1, connect: {} });
    expect((await reply(s, 1)).error).toEqual({ code: 1001, message: "try later", temporary: true });
    script.set("proxy.connect", () => ({ result: { user: "second-try" } }));
    s.send({ id: 2, connect: {} });
    expect((await reply(s, 2)).connect).toBeDefined();
  });

  test("a connect with a token is checked locally: no proxy.connect", async () => {
    asked.length = 0;
    script.set("rpc.echo", (req) => ({ result: { data: { user: req.user, meta: req.meta ?? null } } }));
    await using s = await TestSocket.open(url(0));
    s.send({ id: 1, connect: { token: await signToken("token-tom") } });
    expect((await reply(s, 1)).connect).toBeDefined();
    s.send({ id: 2, rpc: { method: "echo" } });
    expect(((await reply(s, 2)).rpc as Json).data).toMatchObject({ user: "token-tom", meta: null });
    expect(requests("proxy.connect")).toEqual([]);
  });

  test("no answer within PROXY_TIMEOUT: a temporary 100, counted; the connect never hangs", async () => {
    script.set("proxy.connect", () => "silent");
    const before = await metric(sys.gw(0).http, "rt_proxy_results_total", 'proxy="connect",result="timeout"');
    await using s = await open(0, "session=slow");
    s.send({ id: 1, connect: {} });
    expect((await reply(s, 1)).error).toEqual(INTERNAL);
    expect(await metric(sys.gw(0).http, "rt_proxy_results_total", 'proxy="connect",result="timeout"')).toBe(before + 1);
  });

  test("on every transport: uni_sse with no cf_connect and only a cookie, and the SDK over http_stream; the request names the transport", async () => {
    asked.length = 0;
    script.set("proxy.connect", (req) => (/session=s-uni/.test(String((req.headers as Json).cookie)) ? { result: { user: "uni-cookie", channels: ["plain:uni-news"] } } : { disconnect: { code: 4501, reason: "unauthorized" } }));
    // An EventSource with the site's cookie and nothing else: the backend decides who it is.
    const res = await fetch(`${sys.gw(0).http}/connection/uni_sse`, { headers: { cookie: "session=s-uni" } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = "";
    while (!text.includes('"connect"')) text += new TextDecoder().decode((await reader.read()).value);
    const first = JSON.parse(text.split("\n").find((l) => l.startsWith("data: "))!.slice(6)) as { connect: { subs: Json } };
    expect(Object.keys(first.connect.subs).sort()).toEqual(["#uni-cookie", "plain:uni-news"]);
    await reader.cancel();
    expect(requests("proxy.connect").at(-1)).toMatchObject({ transport: "uni_sse", protocol: "json", headers: { cookie: "session=s-uni" } });

    script.set("proxy.connect", () => ({ result: { user: "stream-ann" } }));
    const transports = [{ transport: "http_stream", endpoint: `${sys.gw(1).http}/connection/http_stream` }];
    await using c = new SdkClient(new Centrifuge(transports as never, { emulationEndpoint: `${sys.gw(0).http}/emulation`, fetch, readableStream: ReadableStream, minReconnectDelay: 50, maxReconnectDelay: 300, timeout: 5000 } as never));
    await c.connect();
    expect(requests("proxy.connect").at(-1)).toMatchObject({ transport: "http_stream", protocol: "json" });
    // A command after the connect, through the other gateway's /emulation: the RPC proxy answers it.
    script.set("rpc.echo", (req) => ({ result: { data: { user: req.user, transport: req.transport } } }));
    expect((await c.centrifuge.rpc("echo", { via: "emulation" })).data).toEqual({ user: "stream-ann", transport: "http_stream" });
  });
});

describe("refresh (PROXY_REFRESH=1)", () => {
  test("a connection whose answer set expire_at is refreshed before it; closed with 3005 when the answer says expired", async () => {
    asked.length = 0;
    let n = 0;
    script.set("proxy.refresh", () => (++n === 1 ? { result: { expire_at: unix(1000) } } : { result: { expired: true } }));
    await using s = await proxied(0, "ref-rob", { expire_at: unix(1000), meta: { k: 1 } });
    expect(await s.closed(10_000)).toBe(3005);
    expect(requests("proxy.refresh")).toHaveLength(2);
    expect(requests("proxy.refresh")[0]).toMatchObject({ user: "ref-rob", meta: { k: 1 }, transport: "websocket" });
  });

  test("the connection's info (connect, then refresh) is its publications' info.conn_info, on the other gateway too", async () => {
    let n = 0;
    script.set("proxy.refresh", () => (++n === 1 ? { result: { expire_at: unix(60_000), b64info: Buffer.from(JSON.stringify({ name: "Wes 2" })).toString("base64") } } : { result: {} }));
    await using reader = await proxied(1, "ci-reader");
    reader.send({ id: 2, subscribe: { channel: "plain:ci" } });
    await reply(reader, 2);
    await using writer = await proxied(0, "ci-wes", { info: { name: "Wes" }, expire_at: unix(500) });
    const writerId = (replies(writer).find((r) => r.id === 1)!.connect as Json).client;
    writer.send({ id: 2, publish: { channel: "plain:ci", data: { n: 1 } } });
    await reply(writer, 2);
    await waitFor("the refresh", () => n >= 1, 10_000);
    // The backend has answered; an RPC answered after it by the same backend connection reaches the gateway after it (NATS keeps one publisher's order).
    script.set("rpc.echo", () => ({ result: {} }));
    writer.send({ id: 30, rpc: { method: "echo" } });
    await reply(writer, 30);
    writer.send({ id: 3, publish: { channel: "plain:ci", data: { n: 2 } } });
    await reply(writer, 3);
    const pubs = () => replies(reader).flatMap((r) => ((r.push as Json | undefined)?.pub ? [(r.push as Json).pub as Json] : []));
    await reader.until(() => pubs().length >= 2, "two publications");
    expect(pubs()).toEqual([
      { data: { n: 1 }, info: { user: "ci-wes", client: writerId, conn_info: { name: "Wes" } } },
      { data: { n: 2 }, info: { user: "ci-wes", client: writerId, conn_info: { name: "Wes 2" } } },
    ]);
  });

  test("the connection's info is in presence, joins and leaves (conn_info), across gateways", async () => {
    await using a = await proxied(0, "pr-ann", { info: { name: "Ann" } });
    await using b = await proxied(1, "pr-bob", { info: { name: "Bob" } });
    const idOf = (s: TestSocket) => (replies(s).find((r) => r.id === 1)!.connect as Json).client as string;
    a.send({ id: 2, subscribe: { channel: "pres:x" } });
    await reply(a, 2);
    b.send({ id: 2, subscribe: { channel: "pres:x" } });
    await reply(b, 2);
    const joins = () => replies(a).flatMap((r) => ((r.push as Json | undefined)?.join ? [((r.push as Json).join as Json).info] : []));
    await a.until(() => joins().some((i) => (i as Json).user === "pr-bob"), "bob's join");
    expect(joins().find((i) => (i as Json).user === "pr-bob")).toEqual({ user: "pr-bob", client: idOf(b), conn_info: { name: "Bob" } });
    a.send({ id: 3, presence: { channel: "pres:x" } });
    expect(((await reply(a, 3)).presence as Json).presence).toEqual({
      [idOf(a)]: { client: idOf(a), user: "pr-ann", conn_info: { name: "Ann" } },
      [idOf(b)]: { client: idOf(b), user: "pr-bob", conn_info: { name: "Bob" } },
    });
    b.close();
    const leaves = () => replies(a).flatMap((r) => ((r.push as Json | undefined)?.leave ? [((r.push as Json).leave as Json).info] : []));
    await a.until(() => leaves().length > 0, "bob's leave");
    expect(leaves()).toEqual([{ user: "pr-bob", client: idOf(b), conn_info: { name: "Bob" } }]);
  });

  test("a refresh that gets no decision keeps the connection and asks again later", async () => {
    asked.length = 0;
    let n = 0;
    script.set("proxy.refresh", () => (++n === 1 ? "silent" : { result: { expired: true } }));
    await using s = await proxied(0, "ref-sam", { expire_at: unix(500) });
    await waitFor("a second refresh", () => requests("proxy.refresh").length >= 2, 15_000);
    // Past the first expiry by the retry's wait (5 s): the connection stayed until the second answer.
    expect(await s.closed(5000)).toBe(3005);
  }, 30_000);
});

describe("subscribe, publish and sub_refresh proxies (per namespace)", () => {
  test("subscribe: the request has the channel, data, user and meta; the result's data is in the reply; an error reaches the client as it is", async () => {
    asked.length = 0;
    script.set("proxy.subscribe", (req) => (req.channel === "p:open" ? { result: { data: { granted: true } } } : { error: { code: 403, message: "members only" } }));
    await using s = await proxied(0, "sub-sue", { meta: { m: 2 } });
    s.send({ id: 2, subscribe: { channel: "p:open", data: { why: "hi" } } });
    expect((await reply(s, 2)).subscribe).toMatchObject({ data: { granted: true } });
    s.send({ id: 3, subscribe: { channel: "p:closed" } });
    expect((await reply(s, 3)).error).toEqual({ code: 403, message: "members only" });
    expect(requests("proxy.subscribe")[0]).toMatchObject({ channel: "p:open", data: { why: "hi" }, user: "sub-sue", meta: { m: 2 } });
    // Not subscribed after a refusal: a subscribe again is asked again.
    s.send({ id: 4, subscribe: { channel: "p:closed" } });
    expect((await reply(s, 4)).error).toEqual({ code: 403, message: "members only" });
    // A namespace without the proxy is not asked.
    s.send({ id: 5, subscribe: { channel: "plain:x" } });
    expect((await reply(s, 5)).subscribe).toBeDefined();
    expect(requests("proxy.subscribe")).toHaveLength(3);
  });

  test("publish: the answer's data (b64data) replaces what is published, on both gateways; an error refuses it", async () => {
    script.set("proxy.subscribe", () => ({ result: {} }));
    script.set("proxy.publish", (req) => ((req.data as Json).bad ? { error: { code: 400, message: "no" } } : { result: { b64data: Buffer.from(JSON.stringify({ ...(req.data as Json), by: req.user })).toString("base64") } }));
    await using reader = await proxied(1, "pub-reader");
    reader.send({ id: 2, subscribe: { channel: "p:pub" } });
    await reply(reader, 2);
    await using writer = await proxied(0, "pub-writer");
    writer.send({ id: 2, publish: { channel: "p:pub", data: { text: "hi" } } });
    expect((await reply(writer, 2)).publish).toEqual({});
    writer.send({ id: 3, publish: { channel: "p:pub", data: { bad: true } } });
    expect((await reply(writer, 3)).error).toEqual({ code: 400, message: "no" });
    await reader.until(() => replies(reader).some((r) => (r.push as Json | undefined)?.pub !== undefined), "the publication");
    const pubs = replies(reader).flatMap((r) => ((r.push as Json | undefined)?.pub ? [((r.push as Json).pub as Json).data] : []));
    expect(pubs).toEqual([{ text: "hi", by: "pub-writer" }]);
  });

  test("publish with skip_history: delivered on both gateways (the publisher's too) without an offset, not stored", async () => {
    // The subscribe answer's override positions the subscriptions (the namespace alone would not).
    script.set("proxy.subscribe", () => ({ result: { override: { force_positioning: { value: true }, force_recovery: { value: true } } } }));
    script.set("proxy.publish", (req) => ({ result: { skip_history: (req.data as Json).skip === true } }));
    const channel = "p:skip";
    await using far = await proxied(1, "skip-far");
    await using near = await proxied(0, "skip-near");
    let epoch = "";
    for (const s of [far, near]) {
      s.send({ id: 2, subscribe: { channel } });
      const r = (await reply(s, 2)).subscribe as Json;
      expect(r).toMatchObject({ offset: 0, recoverable: true });
      epoch = String(r.epoch);
    }
    await using writer = await proxied(0, "skip-writer");
    writer.send({ id: 2, publish: { channel, data: { n: 1, skip: true } } });
    expect((await reply(writer, 2)).publish).toEqual({});
    writer.send({ id: 3, publish: { channel, data: { n: 2 } } });
    expect((await reply(writer, 3)).publish).toEqual({});
    for (const s of [far, near]) {
      const pubs = () => replies(s).flatMap((r) => ((r.push as Json | undefined)?.pub ? [(r.push as Json).pub as Json] : []));
      await s.until(() => pubs().length >= 2, "two publications");
      expect(pubs().map((p) => [(p.data as Json).n, p.offset === undefined])).toEqual([[1, true], [2, false]]);
    }
    // Not stored: a recovery from the channel's start gets the second only.
    await using late = await proxied(1, "skip-late");
    late.send({ id: 2, subscribe: { channel, recover: true, offset: 0, epoch } });
    const r = (await reply(late, 2)).subscribe as { recovered: boolean; publications: Json[] };
    expect({ recovered: r.recovered, data: r.publications.map((p) => p.data) }).toEqual({ recovered: true, data: [{ n: 2 }] });
  });

  test("sub_refresh: a subscription whose answer set expire_at is renewed by the gateway (no expires in the reply); expired: unsubscribe push 2501", async () => {
    asked.length = 0;
    let n = 0;
    script.set("proxy.subscribe", () => ({ result: { expire_at: unix(1000) } }));
    script.set("proxy.sub_refresh", () => (++n === 1 ? { result: { expire_at: unix(1000) } } : { result: { expired: true } }));
    await using s = await proxied(0, "sr-sid");
    s.send({ id: 2, subscribe: { channel: "p:renewed" } });
    expect((await reply(s, 2)).subscribe).not.toHaveProperty("expires");
    await s.until(() => replies(s).some((r) => (r.push as Json | undefined)?.unsubscribe !== undefined), "the unsubscribe push", 10_000);
    expect(replies(s).find((r) => (r.push as Json | undefined)?.unsubscribe)!.push).toEqual({ channel: "p:renewed", unsubscribe: { code: 2501, reason: "subscription expired" } });
    expect(requests("proxy.sub_refresh")).toHaveLength(2);
    expect(requests("proxy.sub_refresh")[0]).toMatchObject({ channel: "p:renewed", user: "sr-sid" });
    expect(s.closeCode).toBeUndefined();
  });

  test("a subscription whose answer set expire_at, in a namespace without sub_refresh_proxy_enabled: no expires in the reply, ended with 2501 once expired", async () => {
    asked.length = 0;
    script.set("proxy.subscribe", () => ({ result: { expire_at: unix(500) } }));
    await using s = await proxied(0, "exp-eve");
    s.send({ id: 2, subscribe: { channel: "live:expiring" } });
    expect((await reply(s, 2)).subscribe).not.toHaveProperty("expires");
    await s.until(() => replies(s).some((r) => (r.push as Json | undefined)?.unsubscribe !== undefined), "the unsubscribe push", 15_000);
    expect(replies(s).find((r) => (r.push as Json | undefined)?.unsubscribe)!.push).toEqual({ channel: "live:expiring", unsubscribe: { code: 2501, reason: "subscription expired" } });
    expect(requests("proxy.sub_refresh")).toEqual([]);
  }, 30_000);

  test("a sub_refresh answer's info is the subscriber's channel info in its publications from then on", async () => {
    let n = 0;
    script.set("proxy.subscribe", () => ({ result: { expire_at: unix(500), info: { v: 1 } } }));
    script.set("proxy.sub_refresh", () => (++n === 1 ? { result: { expire_at: unix(60_000), info: { v: 2 } } } : { result: {} }));
    script.set("proxy.publish", () => ({ result: {} }));
    await using s = await proxied(0, "sri-ida");
    s.send({ id: 2, subscribe: { channel: "p:sri" } });
    await reply(s, 2);
    s.send({ id: 3, publish: { channel: "p:sri", data: { n: 1 } } });
    await reply(s, 3);
    await waitFor("the sub_refresh", () => n >= 1, 10_000);
    // As above: a round trip through the same backend after its answer.
    script.set("rpc.echo", () => ({ result: {} }));
    s.send({ id: 30, rpc: { method: "echo" } });
    await reply(s, 30);
    s.send({ id: 4, publish: { channel: "p:sri", data: { n: 2 } } });
    await reply(s, 4);
    const infos = () => replies(s).flatMap((r) => ((r.push as Json | undefined)?.pub ? [(((r.push as Json).pub as Json).info as Json).chan_info] : []));
    await s.until(() => infos().length >= 2, "both publications");
    expect(infos()).toEqual([{ v: 1 }, { v: 2 }]);
  });

  test("a disconnect answer to a subscribe closes the connection with its code", async () => {
    script.set("proxy.subscribe", () => ({ disconnect: { code: 4000, reason: "go away" } }));
    await using s = await proxied(0, "sub-dis");
    s.send({ id: 2, subscribe: { channel: "live:x" } });
    expect(await s.closed()).toBe(4000);
  });
});

describe("RPC in the proxy envelope", () => {
  test("result data (or b64data), an application error as it is, a disconnect", async () => {
    script.set("rpc.echo", (req) => {
      const d = req.data as Json;
      if (d.error) return { error: { code: 1000, message: "nope", temporary: true } };
      if (d.disconnect) return { disconnect: { code: 4003, reason: "bye" } };
      if (d.b64) return { result: { b64data: Buffer.from(JSON.stringify({ b64: true })).toString("base64") } };
      return { result: { data: { echo: d, method: req.method } } };
    });
    await using s = await proxied(1, "rpc-rita");
    s.send({ id: 2, rpc: { method: "echo", data: { x: 1 } } });
    expect((await reply(s, 2)).rpc).toEqual({ data: { echo: { x: 1 }, method: "echo" } });
    s.send({ id: 3, rpc: { method: "echo", data: { b64: 1 } } });
    expect((await reply(s, 3)).rpc).toEqual({ data: { b64: true } });
    s.send({ id: 4, rpc: { method: "echo", data: { error: 1 } } });
    expect((await reply(s, 4)).error).toEqual({ code: 1000, message: "nope", temporary: true });
    s.send({ id: 5, rpc: { method: "echo", data: { disconnect: 1 } } });
    expect(await s.closed()).toBe(4003);
  });

  test("no responders: 108 at once for RPC, a temporary 100 for the proxies", async () => {
    await using s = await proxied(0, "nr-nina");
    s.send({ id: 2, rpc: { method: "nobody" } });
    expect((await reply(s, 2)).error).toEqual({ code: 108, message: "not available" });
    await unserve("proxy.subscribe");
    try {
      s.send({ id: 3, subscribe: { channel: "live:nr" } });
      expect((await reply(s, 3)).error).toEqual(INTERNAL);
    } finally {
      await serve("proxy.subscribe");
    }
    expect(await metric(sys.gw(0).http, "rt_proxy_results_total", 'proxy="subscribe",result="no_responders"')).toBeGreaterThanOrEqual(1);
  });

  test("a backend that never answers: a temporary 100 after PROXY_TIMEOUT, counted; the next command is served", async () => {
    script.set("rpc.echo", () => "silent");
    const before = await metric(sys.gw(1).http, "rt_proxy_results_total", 'proxy="rpc",result="timeout"');
    await using s = await proxied(1, "to-tim");
    const t0 = performance.now();
    s.send({ id: 2, rpc: { method: "echo" } });
    expect((await reply(s, 2)).error).toEqual(INTERNAL);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(PROXY_TIMEOUT_MS - 50);
    expect(await metric(sys.gw(1).http, "rt_proxy_results_total", 'proxy="rpc",result="timeout"')).toBe(before + 1);
    s.send({ id: 3, subscribe: { channel: "plain:after" } });
    expect((await reply(s, 3)).subscribe).toBeDefined();
  });

  test("a backend that answers garbage: a temporary 100, logged with the subject", async () => {
    script.set("proxy.subscribe", () => ({ raw: "<html>oops</html>" }));
    script.set("rpc.echo", () => ({ data: "the old bare form" }));
    await using s = await proxied(0, "gb-gil");
    s.send({ id: 2, subscribe: { channel: "live:garbage" } });
    expect((await reply(s, 2)).error).toEqual(INTERNAL);
    s.send({ id: 3, rpc: { method: "echo" } });
    expect((await reply(s, 3)).error).toEqual(INTERNAL);
    const malformed = (subject: string) => sys.gw(0).logs.split("\n").find((l) => l.includes(`"subject":"${subject}"`) && l.includes('"failure":"malformed"'));
    await waitFor("the warnings", () => malformed("proxy.subscribe") !== undefined && malformed("rpc.echo") !== undefined);
    const line = malformed("proxy.subscribe")!;
    expect(JSON.parse(line)).toMatchObject({ proxy: "subscribe", failure: "malformed", problems: [{ path: "", message: "not UTF-8 JSON" }] });
    expect(line).not.toContain("oops"); // bodies are not logged
  });

  test("a backend killed mid-request: the client gets a temporary 100 within PROXY_TIMEOUT; then no responders: 108", async () => {
    const proc = Bun.spawn(["bun", join(import.meta.dir, "fixtures/silent-backend.ts")], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", NATS_URL: sys.natsUrl, NATS_USER: "backend", NATS_PASSWORD: TEST_NATS_PASSWORDS.backend, SUBJECT: "rpc.doomed" },
      stdout: "pipe",
      stderr: "inherit",
    });
    let out = "";
    void (async () => {
      for await (const chunk of proc.stdout) out += new TextDecoder().decode(chunk);
    })();
    try {
      await waitFor("the backend ready", () => out.includes("ready"), 15_000);
      await using s = await proxied(0, "kill-kim");
      s.send({ id: 2, rpc: { method: "doomed" } });
      await waitFor("the request in the backend", () => out.includes("got rpc.doomed"));
      proc.kill("SIGKILL");
      expect((await reply(s, 2)).error).toEqual(INTERNAL);
      // Once the server has dropped its subscription: nobody serves the method.
      await waitFor("no responders", async () => {
        const id = 100 + replies(s).length;
        s.send({ id, rpc: { method: "doomed" } });
        return ((await reply(s, id)).error as Json).code === 108;
      });
    } finally {
      proc.kill("SIGKILL");
    }
  });
});

describe("`bun run example:backend` as its own process, two gateways, the SDK with cookies", () => {
  let example: ReturnType<typeof Bun.spawn> | undefined;
  let exampleSys: TestSystem;
  let exampleDir: string;
  beforeAll(async () => {
    exampleDir = mkdtempSync(join(tmpdir(), "rt-example-"));
    exampleSys = await TestSystem.start({
      gateways: 2,
      gatewayEnv: { CHANNELS_FILE: join(ROOT, "examples/backend/channels.json"), PROXY_CONNECT: "1", PROXY_HTTP_HEADERS: "cookie" },
    });
    const p = Bun.spawn(["bun", "run", "example:backend"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NATS_URL: exampleSys.natsUrl, NATS_USER: "backend", NATS_PASSWORD: TEST_NATS_PASSWORDS.backend },
      stdout: "pipe",
      stderr: "pipe",
    });
    example = p;
    let out = "";
    void (async () => {
      for await (const chunk of p.stdout) out += new TextDecoder().decode(chunk);
    })();
    await waitFor("the example backend serving", () => {
      if (p.exitCode !== null) throw new Error(`the example exited ${p.exitCode}: ${out}`);
      return out.includes("example backend: serving");
    }, 15_000);
  });
  afterAll(async () => {
    example?.kill("SIGKILL");
    await exampleSys?.[Symbol.asyncDispose]();
    if (exampleDir) rmSync(exampleDir, { recursive: true, force: true });
  });

  const exampleSdk = (gw: number, cookie: string | undefined): SdkClient => {
    class CookieWebSocket extends WebSocket {
      constructor(u: string | URL, protocols?: string | string[]) {
        super(u, { headers: cookie === undefined ? {} : { cookie }, ...(protocols === undefined ? {} : { protocols }) } as unknown as string[]);
      }
    }
    return new SdkClient(new Centrifuge(`${exampleSys.gw(gw).ws}/connection/websocket`, { websocket: CookieWebSocket, minReconnectDelay: 50, maxReconnectDelay: 300, timeout: 5000 }));
  };

  test("alice by her session cookie, the members-only lounge, publications signed with the author's name across gateways, whoami", async () => {
    await using alice = exampleSdk(0, "theme=dark; session=alice-session");
    await using bob = exampleSdk(1, "session=bob-session");
    await alice.connect();
    await bob.connect();
    expect((await alice.centrifuge.rpc("whoami", {})).data).toEqual({ user: "alice", name: "Alice Liddell" });
    expect((await bob.centrifuge.rpc("whoami", {})).data).toEqual({ user: "bob", name: "Bob Dylan" });
    await alice.subscribe("club:lounge");
    // bob is not a member: the backend's error ends his subscription with its code.
    bob.subscription("club:lounge").subscribe();
    await bob.until(() => bob.unsubscribes.some((u) => u.channel === "club:lounge"), "bob refused");
    expect(bob.unsubscribes.find((u) => u.channel === "club:lounge")).toMatchObject({ code: 403 });
    await bob.subscribe("club:hall");
    const hall = await alice.subscribe("club:hall");
    await hall.publish({ text: "hello" });
    await bob.waitFor("club:hall", 1);
    expect(bob.data("club:hall")).toEqual([{ text: "hello", author: "Alice Liddell" }]);
  });

  test("no session cookie: disconnect 4501, the SDK stops", async () => {
    await using c = exampleSdk(1, undefined);
    c.centrifuge.connect();
    await c.until(() => c.disconnects.length > 0, "disconnected");
    expect(c.disconnects).toEqual([{ code: 4501, reason: "unauthorized" }]);
  });
});

describe("PROXY_CONNECT=1 without PROXY_REFRESH", () => {
  let own: TestSystem;
  let nc: NatsConnection;
  beforeAll(async () => {
    own = await TestSystem.start({ gateways: 1, gatewayEnv: { PROXY_CONNECT: "1", PROXY_HTTP_HEADERS: "cookie" } });
    nc = await connect({ ...natsAs("backend"), servers: own.natsUrl });
    nc.subscribe("proxy.connect", { queue: "backends", callback: (_e, m) => void m.respond(JSON.stringify({ result: { user: "exp-ed", expire_at: unix(500) } })) });
    nc.subscribe("proxy.refresh", { queue: "backends", callback: (_e, m) => void m.respond(JSON.stringify({ result: { expire_at: unix(60_000) } })) });
    await nc.flush();
  });
  afterAll(async () => {
    await nc?.close();
    await own?.[Symbol.asyncDispose]();
  });

  test("a connection whose connect answer set expire_at is closed with 3005 then (no expires in its reply: nobody refreshes it)", async () => {
    await using s = await TestSocket.open(`${own.gw(0).ws}/connection/websocket`, { headers: { Cookie: "session=x" } });
    s.send({ id: 1, connect: {} });
    const r = (await reply(s, 1)).connect as Json;
    expect(r.expires).toBeUndefined();
    expect(await s.closed(10_000)).toBe(3005);
  });
});
