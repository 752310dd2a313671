import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { metricsSubject } from "@rt/protocol";
import { TestSocket, TestSystem, roomJoined, roomTexts, signToken, upgradeStatus, waitFor, TEST_JWT_SECRET, NATS_ADMIN } from "@rt/testkit";

let sys: TestSystem;
let nc: NatsConnection;
beforeAll(async () => {
  sys = await TestSystem.start({ gateways: 2 });
  nc = await connect({ ...NATS_ADMIN, servers: sys.nats.url });
});
afterAll(async () => {
  await nc?.close();
  await sys?.[Symbol.asyncDispose]();
});

describe("/ws-chat validated echo", () => {
  test("echoes content and type, defaulting type to text, ignoring unknown properties", async () => {
    await using ws = await TestSocket.open(`${sys.gw(0).ws}/ws-chat`);
    ws.send({ content: "hello", extra: "dropped" });
    expect(await ws.nextJson()).toEqual({ status: "received", data: { content: "hello", type: "text" } });
    ws.send({ content: "x", type: "emoji" });
    expect(await ws.nextJson()).toEqual({ status: "received", data: { content: "x", type: "emoji" } });
  });

  test.each([
    ["not JSON", "{nope", ""],
    ["wrong content type", JSON.stringify({ content: 5 }), "/content"],
    ["missing content", JSON.stringify({ type: "text" }), ""],
    ["wrong type type", JSON.stringify({ content: "a", type: 1 }), "/type"],
    ["an array", "[1]", ""],
  ])("%s gets an error frame and the socket stays open", async (_name, frame, path) => {
    await using ws = await TestSocket.open(`${sys.gw(0).ws}/ws-chat`);
    ws.send(frame);
    const err = await ws.nextJson<{ status: string; errors: Array<{ path: string; message: string }> }>();
    expect(err.status).toBe("error");
    expect(err.errors.length).toBeGreaterThan(0);
    expect(err.errors.map((e) => e.path)).toContain(path);
    for (const e of err.errors) expect(typeof e.message).toBe("string");
    ws.send({ content: "still open" });
    expect(await ws.nextJson()).toEqual({ status: "received", data: { content: "still open", type: "text" } });
  });

  test("a binary frame gets an error frame", async () => {
    await using ws = await TestSocket.open(`${sys.gw(1).ws}/ws-chat`);
    ws.send(new Uint8Array([1, 2, 3]));
    const err = await ws.nextJson<{ status: string }>();
    expect(err.status).toBe("error");
    expect(ws.closeCode).toBeUndefined();
  });
});

describe("/chat/{room_id} across two gateways", () => {
  test("every member on every gateway gets each message exactly once, in order; other rooms get nothing", async () => {
    await using a = await TestSocket.open(`${sys.gw(0).ws}/chat/lobby`);
    await using b = await TestSocket.open(`${sys.gw(0).ws}/chat/lobby`);
    await using c = await TestSocket.open(`${sys.gw(1).ws}/chat/lobby`);
    await using other = await TestSocket.open(`${sys.gw(1).ws}/chat/elsewhere`);
    await using other0 = await TestSocket.open(`${sys.gw(0).ws}/chat/elsewhere`);
    // The room is live on both gateways, both ways (probes are left out of roomTexts).
    await roomJoined(a, [b, c], "lobby");
    await roomJoined(c, [a, b], "lobby");
    const fromA = Array.from({ length: 30 }, (_, i) => `a-${i}`);
    const fromC = Array.from({ length: 30 }, (_, i) => `c-${i}`);
    for (let i = 0; i < 30; i++) {
      a.send(fromA[i]!);
      c.send(fromC[i]!);
    }
    for (const s of [a, b, c]) await s.until(() => roomTexts(s, "lobby").length >= 60, "60 messages");
    // Markers after them from both gateways: a repeat of any of the 60 would have come before.
    await roomJoined(a, [a, b, c], "lobby");
    await roomJoined(c, [a, b, c], "lobby");
    for (const s of [a, b, c]) {
      expect(roomTexts(s, "lobby")).toHaveLength(60);
      expect(roomTexts(s, "lobby").filter((m) => m.startsWith("a-"))).toEqual(fromA);
      expect(roomTexts(s, "lobby").filter((m) => m.startsWith("c-"))).toEqual(fromC);
    }
    // The other room, live on both gateways too, got only its own probes: a lobby message leaking
    // there would have been written when the lobby message was fanned out, before these.
    await roomJoined(other0, [other, other0], "elsewhere");
    await roomJoined(other, [other, other0], "elsewhere");
    expect(roomTexts(other, "elsewhere")).toEqual([]);
    expect(roomTexts(other0, "elsewhere")).toEqual([]);
  });

  test("the room id appears as given and unicode text passes through", async () => {
    await using a = await TestSocket.open(`${sys.gw(0).ws}/chat/Room_1-x`);
    await using c = await TestSocket.open(`${sys.gw(1).ws}/chat/Room_1-x`);
    await roomJoined(a, [c], "Room_1-x");
    a.send("héllo 用户 😀");
    const received = (s: TestSocket) => s.messages.filter((m) => !m.startsWith("Room Room_1-x: probe-"));
    for (const s of [c, a]) await s.until(() => received(s).length >= 1, "the message");
    expect(received(c)).toEqual(["Room Room_1-x: héllo 用户 😀"]);
    expect(received(a)).toEqual(["Room Room_1-x: héllo 用户 😀"]);
  });

  test("a binary frame in a room closes with 1003 and reaches nobody", async () => {
    await using a = await TestSocket.open(`${sys.gw(0).ws}/chat/bin`);
    await using a2 = await TestSocket.open(`${sys.gw(0).ws}/chat/bin`);
    await using b = await TestSocket.open(`${sys.gw(1).ws}/chat/bin`);
    await roomJoined(a2, [b], "bin");
    a.send(new Uint8Array([0xff, 0x00]));
    expect(await a.closed()).toBe(1003);
    // The control: a marker from a2, on a's gateway, sent after a's frame was handled (it was closed
    // for it). That gateway publishes the room's messages in the order it handles them, so whatever
    // the binary frame had made would have reached b (and a2) before the marker.
    await roomJoined(a2, [b, a2], "bin");
    expect(roomTexts(b, "bin")).toEqual([]);
    expect(roomTexts(a2, "bin")).toEqual([]);
  });

  test("garbage on a room subject (invalid UTF-8) is dropped, valid text is relayed", async () => {
    await using a = await TestSocket.open(`${sys.gw(0).ws}/chat/nats-input`);
    // Live once a message published on NATS after it has joined comes through (sent again until then).
    await waitFor("the room live", async () => {
      nc.publish("chat.room.nats-input", "ready");
      await nc.flush();
      return a.messages.includes("Room nats-input: ready");
    }, 10_000, 100);
    nc.publish("chat.room.nats-input", new Uint8Array([0xc3, 0x28]));
    nc.publish("chat.room.nats-input", "from another service");
    nc.publish("chat.room.nats-input", "marker"); // after them on one connection and subject: stored, and so relayed, in this order
    await a.until(() => a.messages.includes("Room nats-input: marker"), "the marker");
    expect(a.messages.filter((m) => m !== "Room nats-input: ready")).toEqual(["Room nats-input: from another service", "Room nats-input: marker"]);
  });
});

describe("/system-monitor", () => {
  const sample = (host: string, cpu: number) => ({ timestamp: new Date().toISOString(), cpu_load: cpu, memory_usage: 42.5, host });

  test("the latest sample of each host comes at once on connect, then every new one", async () => {
    // A socket already there sees the gateway take in the samples (one subscription, in order).
    await using watcher = await TestSocket.open(`${sys.gw(1).ws}/system-monitor`);
    nc.publish(metricsSubject("host-a"), JSON.stringify(sample("host-a", 0.1)));
    nc.publish(metricsSubject("host-a"), JSON.stringify(sample("host-a", 0.2)));
    nc.publish(metricsSubject("host.b*"), JSON.stringify(sample("host.b*", 0.3)));
    await nc.flush();
    await watcher.until(() => watcher.messages.some((m) => m.includes('"cpu_load":0.3')), "the last sample at the gateway");
    await using ws = await TestSocket.open(`${sys.gw(1).ws}/system-monitor`);
    const first = (await ws.waitForMessages(2, 1000)).map((m) => JSON.parse(m) as { host: string; cpu_load: number });
    expect(first.map((s) => [s.host, s.cpu_load]).sort()).toEqual([["host-a", 0.2], ["host.b*", 0.3]]);
    nc.publish(metricsSubject("host-a"), JSON.stringify(sample("host-a", 0.9)));
    const next = await ws.nextJson<{ host: string; cpu_load: number; memory_usage: number; timestamp: string }>();
    expect(next).toMatchObject({ host: "host-a", cpu_load: 0.9, memory_usage: 42.5 });
    expect(Number.isNaN(Date.parse(next.timestamp))).toBe(false);
  });

  test("invalid samples are never forwarded", async () => {
    await using ws = await TestSocket.open(`${sys.gw(0).ws}/system-monitor`);
    // The latest samples are written at open, before the socket takes live ones: once a live one is
    // in, they all are.
    nc.publish(metricsSubject("ready"), JSON.stringify(sample("ready", 1)));
    await ws.until(() => ws.messages.some((m) => m.includes('"host":"ready"')), "a live sample");
    const before = ws.messages.length;
    nc.publish(metricsSubject("bad"), "not json");
    nc.publish(metricsSubject("bad"), JSON.stringify({ ...sample("bad", 1), memory_usage: 500 }));
    nc.publish(metricsSubject("bad"), JSON.stringify(sample("someone-else", 1)));
    nc.publish("metrics.host.a.b", JSON.stringify(sample("x", 1)));
    nc.publish(metricsSubject("good"), JSON.stringify(sample("good", 1)));
    const last = await ws.nextJson<{ host: string }>();
    expect(last.host).toBe("good");
    // A marker from the same connection: the gateway takes every host's samples in the order they
    // were published, so anything of the invalid ones that got through came before it.
    nc.publish(metricsSubject("marker"), JSON.stringify(sample("marker", 1)));
    await ws.until(() => ws.messages.some((m) => m.includes('"host":"marker"')), "the marker");
    expect(ws.messages.slice(before).map((m) => (JSON.parse(m) as { host: string }).host)).toEqual(["good", "marker"]);
  });
});

describe("checks before the upgrade", () => {
  test.each([
    ["/nope", 404],
    ["/chat/a/b", 404],
    ["/chat/", 400],
    ["/chat/a.b", 400],
    ["/chat/a%20b", 400],
    [`/chat/${"x".repeat(65)}`, 400],
    ["/notifications", 401],
    ["/notifications?token=garbage", 401],
  ])("%s answers %i with a JSON body", async (path, status) => {
    const r = await upgradeStatus(`${sys.gw(0).ws}${path}`);
    expect(r.status).toBe(status);
    expect(JSON.parse(r.body)).toHaveProperty("error");
  });

  test("without DEMO_PAGE there is no demo: / and /demo/token are 404 with a JSON body", async () => {
    for (const path of ["/", "/?user=x", "/demo/token?user=x", "/demo/notify"]) {
      const r = await fetch(`${sys.gw(0).http}${path}`, { method: path === "/demo/notify" ? "POST" : "GET" });
      expect({ path, status: r.status }).toEqual({ path, status: 404 });
      expect(await r.json()).toHaveProperty("error");
    }
  });

  test("a plain HTTP request to an endpoint gets 400", async () => {
    const r = await fetch(`${sys.gw(0).http}/ws-chat`);
    expect(r.status).toBe(400);
  });

  test("tokens: wrong secret, expired, no sub, a bad Authorization header get 401", async () => {
    const wrong = await signToken("alice", { secret: "another-secret-0123456789-abcdefghijkl" });
    const expired = await signToken("alice", { expiresIn: Math.floor(Date.now() / 1000) - 60 });
    for (const path of [`/notifications?token=${wrong}`, `/notifications?token=${expired}`]) {
      expect((await upgradeStatus(`${sys.gw(0).ws}${path}`)).status).toBe(401);
    }
    expect((await upgradeStatus(`${sys.gw(0).ws}/notifications`, { authorization: "Basic abc" })).status).toBe(401);
    expect((await upgradeStatus(`${sys.gw(0).ws}/notifications?user_id=alice`)).status).toBe(401);
  });

  test("a good token in the query or the Authorization header opens the socket", async () => {
    const token = await signToken("alice");
    await using q = await TestSocket.open(`${sys.gw(0).ws}/notifications?token=${token}`);
    await using h = await TestSocket.open(`${sys.gw(1).ws}/notifications`, { headers: { authorization: `Bearer ${token}` } });
    expect(q.ws.readyState).toBe(WebSocket.OPEN);
    expect(h.ws.readyState).toBe(WebSocket.OPEN);
  });

  test("since must be a whole number", async () => {
    const token = await signToken("alice");
    expect((await upgradeStatus(`${sys.gw(0).ws}/notifications?token=${token}&since=-1`)).status).toBe(400);
    expect((await upgradeStatus(`${sys.gw(0).ws}/notifications?token=${token}&since=abc`)).status).toBe(400);
  });

  test("health and readiness", async () => {
    expect((await fetch(`${sys.gw(0).http}/healthz`)).status).toBe(200);
    expect((await fetch(`${sys.gw(1).http}/readyz`)).status).toBe(200);
  });

  test("the shared secret fixture is what the gateways were given", () => {
    expect(TEST_JWT_SECRET.length).toBeGreaterThanOrEqual(32);
  });
});
