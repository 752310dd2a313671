// The protections a WebSocket has, on the HTTP transports of the real gateway (one process each,
// configured for the case, on a real nats-server): origin checks, connection caps shared with
// WebSockets, the command rate through /emulation, token expiry, a stalled stream cut within its
// limit, and the 3001 disconnect push at shutdown.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect as tcpConnect } from "node:net";
import { SdkClient, ServiceProcess, TEST_JWT_SECRET, TestNats, signToken, upgradeStatus, waitFor } from "@rt/testkit";

let nats: TestNats;
beforeAll(async () => {
  nats = await TestNats.start();
});
afterAll(async () => {
  await nats?.[Symbol.asyncDispose]();
});

const gateway = (env: Record<string, string> = {}) => ServiceProcess.start("gateway", { NATS_URL: nats.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "warn", ...env });

/** A stream's body read as lines (ndjson) as they come; `ended` once the gateway ends it. */
function readLines(res: Response): { lines: string[]; ended: Promise<void> } {
  const lines: string[] = [];
  const ended = (async () => {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      const parts = buf.split("\n");
      buf = parts.pop()!;
      lines.push(...parts.filter((l) => l !== ""));
    }
  })();
  return { lines, ended };
}

async function httpStream(g: ServiceProcess, user: string, opts: { expiresIn?: string | number; headers?: Record<string, string> } = {}): Promise<Response> {
  const token = await signToken(user, { expiresIn: opts.expiresIn ?? "1h" });
  return fetch(`${g.http}/connection/http_stream`, { method: "POST", headers: { "content-type": "application/json", ...opts.headers }, body: JSON.stringify({ id: 1, connect: { token } }) });
}

describe("protections on the transports beyond /connection/websocket", () => {
  test("ALLOWED_ORIGINS: a stream, SSE or emulation request from another origin is 403; an allowed one gets its CORS headers and preflight", async () => {
    await using g = await gateway({ ALLOWED_ORIGINS: "https://app.example" });
    expect((await httpStream(g, "origin-bad", { headers: { origin: "https://evil.example" } })).status).toBe(403);
    expect((await fetch(`${g.http}/connection/uni_sse`, { headers: { origin: "https://evil.example" } })).status).toBe(403);
    expect((await fetch(`${g.http}/emulation`, { method: "POST", headers: { origin: "https://evil.example" }, body: "{}" })).status).toBe(403);
    const pre = await fetch(`${g.http}/connection/http_stream`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "POST" } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://app.example");
    const ok = await httpStream(g, "origin-good", { headers: { origin: "https://app.example" } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example");
    await ok.body!.cancel();
  });

  test("MAX_CONNECTIONS counts streams and WebSockets together: 503 for the next of either", async () => {
    await using g = await gateway({ MAX_CONNECTIONS: "2" });
    const a = await httpStream(g, "cap-a");
    expect(a.status).toBe(200);
    const ws = await SdkClient.create(`${g.ws}/connection/websocket`, { token: await signToken("cap-b") });
    await ws.connect();
    expect((await httpStream(g, "cap-c")).status).toBe(503);
    expect(await (await fetch(`${g.http}/metrics`)).text()).toMatch(/^rt_streams 1$/m);
    expect((await upgradeStatus(`${g.ws}/connection/websocket`)).status).toBe(503);
    await a.body!.cancel();
    await waitFor("the stream's place freed", async () => {
      const r = await httpStream(g, "cap-d");
      await r.body?.cancel();
      return r.status === 200;
    });
    await ws[Symbol.asyncDispose]();
  });

  test("the command rate applies to emulation requests: 111 per command over it, then 3013 and the stream's end", async () => {
    await using g = await gateway({ RATE_LIMIT_PER_SEC: "1", RATE_LIMIT_BURST: "5" });
    const res = await httpStream(g, "rate-user");
    const { lines, ended } = readLines(res);
    await waitFor("the connect reply", () => lines.length >= 1);
    const { session, node } = (JSON.parse(lines[0]!) as { connect: { session: string; node: string } }).connect;
    const data = Array.from({ length: 80 }, (_, i) => JSON.stringify({ id: 10 + i, presence_stats: { channel: "chat:rate" } })).join("\n");
    // The session ended while taking them (3013): the request is answered as for a session gone, 404 (the SDK reconnects).
    expect((await fetch(`${g.http}/emulation`, { method: "POST", body: JSON.stringify({ node, session, data }) })).status).toBe(404);
    await ended;
    expect(lines.some((l) => l.includes('"code":111'))).toBe(true);
    expect(lines.at(-1)).toBe('{"push":{"disconnect":{"code":3013,"reason":"too many requests"}}}');
  });

  test("uni_websocket: what it sends after its connect is ignored, but a flood of it is over the frame rate: 3013; an Origin not allowed is 403 at the upgrade", async () => {
    await using g = await gateway({ RATE_LIMIT_PER_SEC: "1", RATE_LIMIT_BURST: "5", ALLOWED_ORIGINS: "https://app.example" });
    expect((await upgradeStatus(`${g.ws}/connection/uni_websocket`, { origin: "https://evil.example" })).status).toBe(403);
    const ws = new WebSocket(`${g.ws}/connection/uni_websocket`);
    const messages: string[] = [];
    ws.onmessage = (e) => messages.push(String(e.data));
    const closed = new Promise<number>((resolve) => (ws.onclose = (e) => resolve(e.code)));
    await new Promise((resolve) => (ws.onopen = resolve));
    ws.send(JSON.stringify({ token: await signToken("uni-flood") }));
    await waitFor("the connect push", () => messages.length >= 1);
    for (let i = 0; i < 20; i++) ws.send("{}");
    expect(await closed).toBe(3013);
  });

  test("token expiry: a stream whose token expired without refresh ends with 3005", async () => {
    await using g = await gateway({ SWEEP_INTERVAL_MS: "50" });
    const res = await httpStream(g, "expiring", { expiresIn: Math.floor(Date.now() / 1000) + 2 });
    const { lines, ended } = readLines(res);
    await ended;
    expect(lines.at(-1)).toBe('{"push":{"disconnect":{"code":3005,"reason":"connection expired"}}}');
  });

  test("a reader that stops reading is cut (never buffered without bound): its connection closes having got a small part of what was published", async () => {
    const limit = 600 * 1024;
    await using g = await gateway({ BACKPRESSURE_LIMIT_BYTES: String(limit), SWEEP_INTERVAL_MS: "50", RATE_LIMIT_PER_SEC: "100000", RATE_LIMIT_BURST: "100000" });
    const token = await signToken("stalled", { claims: { channels: ["chat:stall-stream"] } });
    const sock = tcpConnect(g.port!, "127.0.0.1");
    let received = 0;
    let closed = false;
    sock.on("data", (b: Buffer) => (received += b.byteLength));
    sock.on("close", () => (closed = true));
    sock.on("error", () => undefined);
    await new Promise((resolve) => sock.once("connect", resolve));
    const body = JSON.stringify({ token });
    sock.write(`POST /connection/uni_http_stream HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await waitFor("the connect push", () => received > 0);
    sock.pause(); // stops reading: the kernel's buffers fill, then the gateway's
    await using pub = SdkClient.create(`${g.ws}/connection/websocket`, { token: await signToken("flooder") });
    await pub.connect();
    const sub = await pub.subscribe("chat:stall-stream");
    const big = "z".repeat(60_000);
    let published = 0;
    // 24 MB: far beyond the kernel's buffers and the limit. The publisher waits for its own to come back (it reads).
    for (let i = 0; i < 400; i++) {
      await sub.publish({ big, i });
      published += big.length;
      if (i % 8 === 7) await pub.waitFor("chat:stall-stream", i + 1, 15_000);
    }
    sock.resume();
    await waitFor("the stream cut", () => closed, 15_000);
    expect(received).toBeLessThan(published / 4);
  });

  test("graceful shutdown: every stream gets the 3001 disconnect push, then its end (the SDKs reconnect elsewhere)", async () => {
    const g = await gateway();
    const res = await httpStream(g, "shutdown-stream");
    const sse = await fetch(`${g.http}/connection/uni_sse?cf_connect=${encodeURIComponent(JSON.stringify({ token: await signToken("shutdown-sse") }))}`);
    const a = readLines(res);
    const b = readLines(sse);
    await waitFor("both connected", () => a.lines.length >= 1 && b.lines.length >= 1);
    expect(await g.stop("SIGTERM")).toBe(0);
    await Promise.all([a.ended, b.ended]);
    expect(a.lines.at(-1)).toBe('{"push":{"disconnect":{"code":3001,"reason":"shutdown"}}}');
    expect(b.lines.at(-1)).toBe('data: {"disconnect":{"code":3001,"reason":"shutdown"}}');
  });
});
