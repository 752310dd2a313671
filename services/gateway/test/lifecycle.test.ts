import { describe, expect, test } from "bun:test";
import { ServiceProcess, TestNats, TestSocket, runToExit, upgradeStatus, waitFor, TEST_JWT_SECRET } from "@rt/testkit";

const gateway = (nats: TestNats, env: Record<string, string> = {}) =>
  ServiceProcess.start("gateway", { NATS_URL: nats.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "warn", ...env });

describe("configuration", () => {
  test.each([
    [{ JWT_SECRET: "short" }, "JWT_SECRET"],
    [{ JWT_SECRET: TEST_JWT_SECRET, PORT: "eighty" }, "PORT"],
    [{ JWT_SECRET: TEST_JWT_SECRET, PORT: "70000" }, "PORT"],
    [{}, "JWT_SECRET"],
    [{ JWT_SECRET: TEST_JWT_SECRET, NATS_URL: "not a url" }, "NATS_URL"],
    [{ JWT_SECRET: TEST_JWT_SECRET, MAX_MESSAGE_BYTES: "-1" }, "MAX_MESSAGE_BYTES"],
    [{ JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "loud" }, "LOG_LEVEL"],
    [{ JWT_SECRET: TEST_JWT_SECRET, PONG_TIMEOUT: "0" }, "PONG_TIMEOUT"],
    [{ JWT_SECRET: TEST_JWT_SECRET, GATEWAY_HEARTBEAT_INTERVAL: "5s", GATEWAY_GONE_AFTER: "6s" }, "GATEWAY_GONE_AFTER"],
  ])("%p exits 2 naming %s", async (env, variable) => {
    const { code, output } = await runToExit("gateway", env);
    expect(code).toBe(2);
    expect(output.trim().split("\n")).toHaveLength(1);
    expect(output).toContain(variable);
  });
});

describe("origins, capacity and shutdown", () => {
  test("ALLOWED_ORIGINS: other origins get 403, no Origin is allowed, and the check order holds", async () => {
    await using nats = await TestNats.start();
    await using gw = await gateway(nats, { ALLOWED_ORIGINS: "https://app.example.com, https://admin.example.com" });
    const evil = { origin: "https://evil.example.com" };
    expect((await upgradeStatus(`${gw.ws}/ws-chat`, evil)).status).toBe(403);
    expect((await upgradeStatus(`${gw.ws}/nope`, evil)).status).toBe(404); // unknown path first
    expect((await upgradeStatus(`${gw.ws}/chat/a.b`, evil)).status).toBe(403); // origin before room id
    expect((await upgradeStatus(`${gw.ws}/notifications`, evil)).status).toBe(403); // origin before token
    expect((await upgradeStatus(`${gw.ws}/chat/a.b`)).status).toBe(400);
    await using ok = await TestSocket.open(`${gw.ws}/ws-chat`, { headers: { origin: "https://admin.example.com" } });
    await using none = await TestSocket.open(`${gw.ws}/ws-chat`);
    expect(ok.ws.readyState).toBe(WebSocket.OPEN);
    expect(none.ws.readyState).toBe(WebSocket.OPEN);
  });

  test("MAX_CONNECTIONS: the next socket gets 503 before the upgrade; a bad token still gets 401 first", async () => {
    await using nats = await TestNats.start();
    await using gw = await gateway(nats, { MAX_CONNECTIONS: "2" });
    await using a = await TestSocket.open(`${gw.ws}/ws-chat`);
    await using b = await TestSocket.open(`${gw.ws}/chat/x`);
    expect((await upgradeStatus(`${gw.ws}/system-monitor`)).status).toBe(503);
    expect((await upgradeStatus(`${gw.ws}/notifications?token=bad`)).status).toBe(401);
    a.close();
    await a.closed();
    // The slot is free once the gateway has handled the close (it may still be doing so): try until then.
    let c: TestSocket | undefined;
    await waitFor("a free slot", async () => {
      c = await TestSocket.open(`${gw.ws}/system-monitor`);
      return true;
    }, 5000, 20);
    await using opened = c!;
    expect(opened.ws.readyState).toBe(WebSocket.OPEN);
  });

  test("SIGTERM closes sockets with 1001 and exits 0 within 10 s", async () => {
    await using nats = await TestNats.start();
    const gw = await gateway(nats);
    await using s1 = await TestSocket.open(`${gw.ws}/chat/r`);
    await using s2 = await TestSocket.open(`${gw.ws}/system-monitor`);
    const t0 = Date.now();
    const code = await gw.stop("SIGTERM");
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await s1.closed()).toBe(1001);
    expect(await s2.closed()).toBe(1001);
  });

  test("readyz is 503 while NATS is down and 200 again after, without a restart", async () => {
    await using nats = await TestNats.start();
    await using gw = await gateway(nats);
    await using s = await TestSocket.open(`${gw.ws}/ws-chat`);
    await nats.stop(true);
    await waitFor("/readyz 503", async () => (await fetch(`${gw.http}/readyz`)).status === 503, 5000, 50);
    expect((await fetch(`${gw.http}/readyz`)).status).toBe(503);
    expect((await fetch(`${gw.http}/healthz`)).status).toBe(200);
    await nats.restart();
    await waitFor("/readyz 200", async () => (await fetch(`${gw.http}/readyz`)).status === 200, 15_000, 50);
    expect((await fetch(`${gw.http}/readyz`)).status).toBe(200);
    s.send({ content: "through the outage" });
    expect(await s.nextJson()).toEqual({ status: "received", data: { content: "through the outage", type: "text" } });
  });
});

describe("frame limits", () => {
  test("a frame over MAX_MESSAGE_BYTES closes with 1009", async () => {
    await using nats = await TestNats.start();
    await using gw = await gateway(nats, { MAX_MESSAGE_BYTES: "1024" });
    await using s = await TestSocket.open(`${gw.ws}/chat/big`);
    s.send("x".repeat(2000));
    expect(await s.closed()).toBe(1009);
  });

  test("a sender over the rate limit is closed with 1008 'rate limit' before it floods the room", async () => {
    await using nats = await TestNats.start();
    await using gw = await gateway(nats, { RATE_LIMIT_PER_SEC: "10", RATE_LIMIT_BURST: "20" });
    await using flooder = await TestSocket.open(`${gw.ws}/chat/flood`);
    await using member = await TestSocket.open(`${gw.ws}/chat/flood`);
    const t0 = Date.now();
    for (let i = 0; i < 200; i++) flooder.send(`m${i}`);
    expect(await flooder.closed()).toBe(1008);
    // The burst, and what 10 a second refills while the gateway reads the 200 frames (under 100 ms
    // on an idle machine: one; the refill is bounded by the time from the first send to the close).
    const refill = Math.max(1, Math.ceil(((Date.now() - t0) / 1000) * 10));
    expect(flooder.closeReason).toBe("rate limit");
    // A marker from the member, sent after the flooder was closed: its own gateway hands a room
    // message to its members at once, in the order it handles them, so every flood message it let
    // through reached the member before the marker.
    member.send("marker");
    await member.until(() => member.messages.includes("Room flood: marker"), "the marker");
    const flood = member.messages.filter((m) => m !== "Room flood: marker");
    expect(flood.length).toBeLessThanOrEqual(20 + refill);
    expect(flood.length).toBeGreaterThanOrEqual(20);
  });

  test("RATE_LIMIT_PER_SEC=0 turns the limit off", async () => {
    await using nats = await TestNats.start();
    await using gw = await gateway(nats, { RATE_LIMIT_PER_SEC: "0" });
    await using s = await TestSocket.open(`${gw.ws}/chat/nolimit`);
    for (let i = 0; i < 300; i++) s.send(`m${i}`);
    await s.waitForMessages(300);
    expect(s.closeCode).toBeUndefined();
  });
});
