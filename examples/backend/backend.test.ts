// examples/backend: its handlers read what the gateway's proxies send (the request builders of
// services/gateway/src/proxies) and answer what they accept (proxy.checkProxyAnswer); and run as
// `bun run example:backend` against a real nats-server, it answers the gateway's ProxyClient,
// finding the server and its password in a dev run's backend.env.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { INBOX_PREFIX, REPLY_PREFIX, parseChannelsFile, proxy } from "@rt/protocol";
import { Metrics, createLogger } from "@rt/runtime";
import { ROOT, TEST_NATS_PASSWORDS, TestNats, natsAs, waitFor } from "@rt/testkit";
import { NatsBroker } from "../../services/gateway/src/broker/nats-broker.ts";
import { connectRequest } from "../../services/gateway/src/proxies/connect.ts";
import { ProxyClient } from "../../services/gateway/src/proxies/proxy-client.ts";
import { publishRequest } from "../../services/gateway/src/proxies/publish.ts";
import type { ProxyConnection } from "../../services/gateway/src/proxies/request-fields.ts";
import { rpcRequest } from "../../services/gateway/src/proxies/rpc.ts";
import { subscribeRequest } from "../../services/gateway/src/proxies/subscribe.ts";
import { REPLY_PREFIX as EXAMPLE_REPLY_PREFIX, answer, onConnect, onPublish, onSubscribe, onWhoami } from "./backend.ts";

type Json = Record<string, unknown>;
const alice: ProxyConnection = { client: "c-1", transport: "websocket", protocol: "json", user: "alice", meta: { name: "Alice Liddell" } };
const bob: ProxyConnection = { client: "c-2", transport: "websocket", protocol: "json", user: "bob", meta: { name: "Bob Dylan" } };
const connectAs = (cookie: string | undefined) => connectRequest({ client: "c-1", transport: "websocket", protocol: "json", name: "js", headers: cookie === undefined ? {} : { cookie }, remoteAddr: "10.0.0.7" });
/** The answer, checked as the gateway checks it. */
function checked(kind: proxy.ProxyName, answerJson: Json): Json {
  const c = proxy.checkProxyAnswer(kind, answerJson);
  expect(c.ok ? "ok" : c.errors).toBe("ok");
  return answerJson;
}

describe("the example's handlers, JSON in and out", () => {
  test("the reply prefix it answers under is the gateways' proxy prefix", () => {
    expect(EXAMPLE_REPLY_PREFIX).toBe(REPLY_PREFIX.proxy);
  });

  test("connect: the session cookie names the user; none or an unknown one is disconnect 4501", () => {
    expect(checked("connect", onConnect(connectAs("theme=dark; session=alice-session")))).toEqual({ result: { user: "alice", info: { name: "Alice Liddell" }, meta: { name: "Alice Liddell" } } });
    expect(checked("connect", onConnect(connectAs("session=bob-session")))).toMatchObject({ result: { user: "bob" } });
    for (const cookie of [undefined, "", "session=", "session=mallory", "xsession=alice-session"]) {
      expect(checked("connect", onConnect(connectAs(cookie)))).toEqual({ disconnect: { code: 4501, reason: "unauthorized" } });
    }
  });

  test("subscribe: club:lounge is for its members, other club: channels for anyone signed in", () => {
    expect(checked("subscribe", onSubscribe(subscribeRequest(alice, "club:lounge")))).toEqual({ result: {} });
    expect(checked("subscribe", onSubscribe(subscribeRequest(bob, "club:lounge")))).toEqual({ error: { code: 403, message: "members only" } });
    expect(checked("subscribe", onSubscribe(subscribeRequest(bob, "club:hall")))).toEqual({ result: {} });
    expect(checked("subscribe", onSubscribe(subscribeRequest({ ...bob, user: "", meta: undefined }, "club:hall")))).toEqual({ error: { code: 403, message: "members only" } });
  });

  test("publish: the author's display name (from the connection's meta) is added; anything but an object is refused", () => {
    expect(checked("publish", onPublish(publishRequest(alice, "club:hall", { text: "hi" })))).toEqual({ result: { data: { text: "hi", author: "Alice Liddell" } } });
    expect(checked("publish", onPublish(publishRequest({ ...bob, meta: undefined }, "club:hall", { text: "yo", author: "forged" })))).toEqual({ result: { data: { text: "yo", author: "bob" } } });
    for (const data of ["text", 1, null, [1]]) expect(checked("publish", onPublish(publishRequest(alice, "club:hall", data)))).toEqual({ error: { code: 400, message: "publish an object" } });
  });

  test("rpc whoami: the user and the name", () => {
    expect(checked("rpc", onWhoami(rpcRequest(alice, "whoami")))).toEqual({ result: { data: { user: "alice", name: "Alice Liddell" } } });
    expect(checked("rpc", onWhoami(rpcRequest({ ...bob, meta: undefined }, "whoami", { x: 1 })))).toEqual({ result: { data: { user: "bob", name: null } } });
  });

  test("a request whose reply subject is not a gateway's proxy inbox is not answered; bad bodies get an error", () => {
    const body = JSON.stringify(connectAs("session=alice-session"));
    expect(answer("proxy.connect", `${REPLY_PREFIX.proxy}abc.1`, body)).toBe(JSON.stringify(onConnect(JSON.parse(body) as Json)));
    for (const reply of [undefined, "_INBOX.abc.1", "api.disconnect", `${INBOX_PREFIX.gateway}.abc.1`, "chat.room.lobby"]) expect(answer("proxy.connect", reply, body)).toBeUndefined();
    expect(JSON.parse(answer("proxy.connect", `${REPLY_PREFIX.proxy}a.1`, "{not json")!)).toEqual({ error: { code: 400, message: "not JSON" } });
    expect(JSON.parse(answer("proxy.refresh", `${REPLY_PREFIX.proxy}a.1`, "{}")!)).toEqual({ error: { code: 400, message: "bad request" } });
    expect(JSON.parse(answer("proxy.connect", `${REPLY_PREFIX.proxy}a.1`, "null")!)).toEqual({ error: { code: 400, message: "bad request" } });
  });

  test("its channels.json is a valid CHANNELS_FILE with the proxies on for `club`", async () => {
    const loaded = parseChannelsFile(await Bun.file(join(import.meta.dir, "channels.json")).text(), { size: 100, ttlMs: 3_600_000 });
    expect(loaded.ok ? "ok" : loaded.problems).toBe("ok");
    const club = loaded.ok ? loaded.namespaces.get("club") : undefined;
    expect(club?.options).toMatchObject({ subscribe_proxy_enabled: true, publish_proxy_enabled: true });
  });
});

describe("`bun run example:backend` against a real nats-server, asked by the gateway's ProxyClient", () => {
  let nats: TestNats;
  let broker: NatsBroker;
  let stateDir: string;
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  let client: ProxyClient;

  beforeAll(async () => {
    nats = await TestNats.start({ jetstream: false });
    broker = new NatsBroker(createLogger("test", "silent"), INBOX_PREFIX.gateway);
    await broker.connect({ ...natsAs("gateway"), servers: [nats.url], name: "example-test", noEcho: true });
    client = new ProxyClient({ requester: broker, metrics: new Metrics(), log: createLogger("test", "silent"), config: { timeoutMs: 2000, connect: true, refresh: false, httpHeaders: ["cookie"] } });
    // What `bun run dev` keeps while it runs: the example reads it when NATS_URL is not set.
    stateDir = mkdtempSync(join(tmpdir(), "rt-example-backend-"));
    writeFileSync(join(stateDir, "backend.env"), `NATS_URL=${nats.url}\nNATS_USER=backend\nNATS_PASSWORD=${TEST_NATS_PASSWORDS.backend}\n`);
    const p = Bun.spawn(["bun", "run", "example:backend"], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", DEV_STATE_DIR: stateDir }, stdout: "pipe", stderr: "pipe" });
    proc = p;
    let out = "";
    void (async () => {
      for await (const chunk of p.stdout) out += new TextDecoder().decode(chunk);
    })();
    await waitFor("the example backend serving", () => {
      if (p.exitCode !== null) throw new Error(`the example exited ${p.exitCode}: ${out}`);
      return out.includes("example backend: serving");
    }, 15_000);
    expect(out).toContain("as backend");
  });
  afterAll(async () => {
    proc?.kill("SIGKILL");
    await broker?.close();
    await nats?.[Symbol.asyncDispose]();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  test("connect by cookie, members-only subscribe, a signed publication, whoami", async () => {
    const connected = await client.connect({ client: "c-1", transport: "websocket", protocol: "json", headers: client.headers(new Headers({ Cookie: "session=alice-session" })), remoteAddr: "127.0.0.1" });
    expect(connected).toMatchObject({ kind: "result", result: { user: "alice", info: { name: "Alice Liddell" }, meta: { name: "Alice Liddell" } } });
    const meta = connected.kind === "result" ? connected.result.meta : undefined;
    const conn: ProxyConnection = { client: "c-1", transport: "websocket", protocol: "json", user: "alice", meta };
    expect(await client.connect({ client: "c-2", transport: "websocket", protocol: "json", headers: {}, remoteAddr: "" })).toEqual({ kind: "disconnect", disconnect: { code: 4501, reason: "unauthorized" } });
    expect((await client.subscribe(conn, "club:lounge")).kind).toBe("result");
    expect(await client.subscribe({ ...conn, user: "bob" }, "club:lounge")).toEqual({ kind: "error", error: { code: 403, message: "members only", temporary: false } });
    expect(await client.publish(conn, "club:lounge", { text: "hi" })).toEqual({ kind: "result", result: { data: { text: "hi", author: "Alice Liddell" }, skipHistory: false } });
    expect(await client.rpc(conn, "whoami")).toEqual({ kind: "result", result: { data: { user: "alice", name: "Alice Liddell" } } });
    // What it does not serve: nobody answers, at once.
    expect(await client.rpc(conn, "unknown")).toMatchObject({ kind: "error", error: { code: 108 }, failure: "no_responders" });
  });
});
