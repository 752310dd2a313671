// deploy/nginx.conf, run by deploy/nginx-local.sh with Debian's nginx, in front of two real gateways:
// the points of compose's load balancer that can be checked without Docker.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { Hub } from "../../services/gateway/src/transports/hub.ts";
import { openHttpStream } from "../../services/gateway/src/transports/http-stream.ts";
import type { StreamTransport } from "../../services/gateway/src/transports/stream-transport.ts";
import { Centrifuge } from "centrifuge";
import { ROOT, SdkClient, ServiceProcess, TEST_JWT_SECRET, TestEventSource, TestNats, TestSocket, freePort, rssBytes, signToken, upgradeStatus, waitFor } from "@rt/testkit";

/** deploy/nginx-local.sh in front of `upstreams`; its prefix (config, logs) is kept in `prefix`. */
class LocalLb implements AsyncDisposable {
  private constructor(readonly proc: Subprocess<"ignore", "pipe", "pipe">, readonly port: number, readonly prefix: string) {}

  static async start(upstreams: number[]): Promise<LocalLb> {
    const port = await freePort();
    const prefix = mkdtempSync(join(tmpdir(), "rt-lb-"));
    const proc = Bun.spawn(["bash", join(ROOT, "deploy/nginx-local.sh")], {
      env: { ...process.env, LB_PORT: String(port), LB_PREFIX: prefix, UPSTREAM: upstreams.map((p) => `127.0.0.1:${p}`).join(",") },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    // Its own health route answers once a worker serves (the port alone is open as soon as the master binds it).
    await waitFor("nginx serving", async () => (await fetch(`http://127.0.0.1:${port}/lb-healthz`)).status === 200, 10_000, 50);
    return new LocalLb(proc, port, prefix);
  }

  get ws(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** nginx's own processes (master and workers), found by their prefix in /proc. */
  nginxPids(): number[] {
    const pids: number[] = [];
    for (const d of readdirSync("/proc")) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8");
        const comm = readFileSync(`/proc/${d}/comm`, "utf8").trim();
        if (comm === "nginx" && (cmd.includes(this.prefix) || readFileSync(`/proc/${d}/status`, "utf8").includes(`PPid:\t${this.masterPid()}`))) pids.push(Number(d));
      } catch {
        // gone
      }
    }
    return pids;
  }

  private masterPid(): number {
    return Number(readFileSync("/tmp/nginx.pid".replace("/tmp", join(this.prefix, "tmp")), "utf8").trim() || "0");
  }

  get accessLog(): string {
    return readFileSync(join(this.prefix, "logs/access.log"), "utf8");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.proc.exitCode === null) {
      this.proc.kill("SIGTERM");
      await Promise.race([this.proc.exited, Bun.sleep(8000)]);
    }
    for (const pid of this.nginxPids()) process.kill(pid, "SIGKILL");
    rmSync(this.prefix, { recursive: true, force: true });
  }
}

describe("deploy/nginx.conf with Debian's nginx in front of two gateways", () => {
  test("WebSockets pass through; the access log has the path but never the ?token=; workers are small", async () => {
    await using nats = await TestNats.start();
    const env = { NATS_URL: nats.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "warn" };
    await using a = await ServiceProcess.start("gateway", env);
    await using b = await ServiceProcess.start("gateway", env);
    await using lb = await LocalLb.start([a.port!, b.port!]);
    const token = await signToken("lb-user");
    {
      await using n = await TestSocket.open(`${lb.ws}/notifications?token=${token}&since=0`);
      await using room = await TestSocket.open(`${lb.ws}/chat/lb`);
      room.send("through nginx");
      await room.waitForMessages(1);
      expect(room.messages[0]).toBe("Room lb: through nginx");
      expect(n.ws.readyState).toBe(WebSocket.OPEN);
    }
    await waitFor("logged", () => lb.accessLog.includes("/notifications"), 5000);
    const log = lb.accessLog;
    expect(log).toContain('"GET /notifications HTTP/1.1" 101');
    expect(log).not.toContain(token);
    expect(log).not.toContain("token=");
    expect(log).not.toContain("since=");
    const pids = lb.nginxPids();
    expect(pids.length).toBe(3); // master + worker_processes 2, whatever the host's CPU count
    for (const pid of pids) expect(rssBytes(pid)).toBeLessThan(24 * 1024 * 1024);
  });

  test("a gateway that answers 503 (full, or shutting down) is skipped: the next replica takes the upgrade", async () => {
    await using nats = await TestNats.start();
    const env = { NATS_URL: nats.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "warn" };
    await using full = await ServiceProcess.start("gateway", { ...env, MAX_CONNECTIONS: "1" });
    await using other = await ServiceProcess.start("gateway", env);
    await using occupant = await TestSocket.open(`${full.ws}/ws-chat`);
    expect((await upgradeStatus(`${full.ws}/ws-chat`)).status).toBe(503);
    await using lb = await LocalLb.start([full.port!, other.port!]);
    const sockets: TestSocket[] = [];
    for (let i = 0; i < 10; i++) sockets.push(await TestSocket.open(`${lb.ws}/ws-chat`));
    for (const s of sockets) s.close();
    expect(occupant.ws.readyState).toBe(WebSocket.OPEN);
  });

  test("a compose stop: gateways stop first and clients get 1001; nginx then stops at once, and within worker_shutdown_timeout even with sockets left", async () => {
    await using nats = await TestNats.start();
    const env = { NATS_URL: nats.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "warn" };
    const a = await ServiceProcess.start("gateway", env);
    const b = await ServiceProcess.start("gateway", env);
    await using lb = await LocalLb.start([a.port!, b.port!]);
    const clients: TestSocket[] = [];
    for (let i = 0; i < 6; i++) clients.push(await TestSocket.open(`${lb.ws}/chat/stop`));
    // compose: `gateway` depends on `lb`, so it is stopped first.
    expect(await Promise.all([a.stop("SIGTERM"), b.stop("SIGTERM")])).toEqual([0, 0]);
    for (const c of clients) expect(await c.closed()).toBe(1001);
    let t0 = Date.now();
    lb.proc.kill("SIGTERM");
    await lb.proc.exited;
    expect(Date.now() - t0).toBeLessThan(2000);

    // Only the load balancer stopped while sockets are open: it does not wait for them for ever.
    await using c = await ServiceProcess.start("gateway", env);
    await using lb2 = await LocalLb.start([c.port!]);
    await using held = await TestSocket.open(`${lb2.ws}/chat/held`);
    t0 = Date.now();
    lb2.proc.kill("SIGTERM");
    await lb2.proc.exited;
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(await held.closed()).toBe(1006);
  });
});

/**
 * An upstream standing in for a gateway's streaming endpoints (docs/transports.md), so a test can
 * hold the second line back (the gateway's own streams are tested through nginx above): each
 * stream sends its first line, then its second
 * only when the test says so, then ends. It sends no `X-Accel-Buffering`, so what is checked is
 * deploy/nginx.conf itself.
 */
function streamingUpstream(opts: { refuseStreams?: boolean } = {}) {
  const seen: Array<{ method: string; path: string; query: string; body: string }> = [];
  const releases: Array<() => void> = [];
  const server = Bun.serve({
    port: 0,
    async fetch(req, srv) {
      const url = new URL(req.url);
      const body = await req.text();
      seen.push({ method: req.method, path: url.pathname, query: url.search, body });
      if (url.pathname === "/emulation") return new Response(null, { status: 204 });
      if (opts.refuseStreams) return Response.json({ error: "gateway is full or shutting down" }, { status: 503 });
      srv.timeout(req, 0);
      const sse = url.pathname.endsWith("sse");
      const line = (s: string) => new TextEncoder().encode(sse ? `data: ${s}\n\n` : `${s}\n`);
      const release = Promise.withResolvers<void>();
      releases.push(release.resolve);
      const stream = new ReadableStream<Uint8Array>({
        async start(c) {
          c.enqueue(line("first"));
          await release.promise;
          c.enqueue(line("second"));
          c.close();
        },
      });
      return new Response(stream, { headers: { "Content-Type": sse ? "text/event-stream; charset=utf-8" : "application/x-ndjson" } });
    },
  });
  return { server, seen, releases, port: server.port!, [Symbol.dispose]: () => server.stop(true) };
}

describe("deploy/nginx.conf in front of two gateways whose WebSockets are refused: the SDK's fallbacks and /emulation", () => {
  test.each(["http_stream", "sse"])("the centrifuge SDK over %s through nginx, its commands to any gateway: chats with a WebSocket client", async (kind) => {
    await using nats = await TestNats.start();
    const env = { NATS_URL: nats.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "warn" };
    await using a = await ServiceProcess.start("gateway", env);
    await using b = await ServiceProcess.start("gateway", env);
    await using lb = await LocalLb.start([a.port!, b.port!]);
    const http = `http://127.0.0.1:${lb.port}`;
    // The WebSocket endpoint is one that refuses the upgrade, as a proxy that blocks WebSockets does.
    const transports = [{ transport: "websocket", endpoint: `${lb.ws}/connection/http_stream` }, ...(kind === "http_stream" ? [{ transport: "http_stream", endpoint: `${http}/connection/http_stream` }] : []), { transport: "sse", endpoint: `${http}/connection/sse` }];
    const options = { token: await signToken(`lb-${kind}`), emulationEndpoint: `${http}/emulation`, fetch, readableStream: ReadableStream, eventsource: TestEventSource, websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 300, timeout: 5000 };
    await using c = new SdkClient(new Centrifuge(transports as never, options as never));
    await c.connect();
    expect((c.centrifuge as unknown as { _transport: { name(): string } })._transport.name()).toBe(kind);
    await using ws = SdkClient.create(`${lb.ws}/connection/websocket`, { token: await signToken("lb-ws") });
    await ws.connect();
    const room = `chat:lb-${kind}`;
    const wsSub = await ws.subscribe(room);
    // Several commands, each a POST that nginx gives to either gateway (round robin): the session's gateway gets them over NATS when needed.
    const sub = await c.subscribe(room);
    for (let i = 0; i < 6; i++) await sub.publish({ n: i });
    await ws.waitFor(room, 6); // a publish is answered before the stream stored it: the order between two publishers is known once seen
    await wsSub.publish({ from: "ws" });
    await c.waitFor(room, 7);
    await ws.waitFor(room, 7);
    expect(c.data(room)).toEqual([...Array.from({ length: 6 }, (_, i) => ({ n: i })), { from: "ws" }]);
    const presence = await sub.presence();
    expect(Object.values(presence.clients).map((i) => i.user).sort()).toEqual([`lb-${kind}`, "lb-ws"]);
    await waitFor("logged", () => lb.accessLog.includes("POST /emulation"), 5000);
    expect(lb.accessLog).not.toContain("cf_connect");
  });
});

describe("deploy/nginx.conf: a gateway holding HTTP streams shuts down", () => {
  test("its streams get 3001 (a code the SDK reconnects after); the SDK reconnects through nginx to the other gateway and recovers its room", async () => {
    await using nats = await TestNats.start();
    const env = { NATS_URL: nats.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "warn" };
    const gateways = [await ServiceProcess.start("gateway", env), await ServiceProcess.start("gateway", env)];
    await using lb = await LocalLb.start(gateways.map((g) => g.port!));
    const http = `http://127.0.0.1:${lb.port}`;
    const transports = [{ transport: "http_stream", endpoint: `${http}/connection/http_stream` }];
    const options = { token: await signToken("lb-moving"), emulationEndpoint: `${http}/emulation`, fetch, readableStream: ReadableStream, websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 300, timeout: 5000 };
    await using c = new SdkClient(new Centrifuge(transports as never, options as never));
    await c.connect();
    const sub = c.subscription("chat:lb-moving", { recoverable: true });
    sub.subscribe();
    await c.until(() => c.subscribed.some((s) => s.channel === "chat:lb-moving"), "subscribed");
    await sub.publish({ n: 0 });
    await c.waitFor("chat:lb-moving", 1);
    // The gateway holding the stream (rt_streams 1) stops; the other keeps running.
    const streamsOf = async (g: ServiceProcess) => Number(/^rt_streams (\d+)$/m.exec(await (await fetch(`${g.http}/metrics`)).text())?.[1] ?? 0);
    const holder = (await streamsOf(gateways[0]!)) === 1 ? 0 : 1;
    const other = gateways[1 - holder]!;
    expect(await streamsOf(gateways[holder]!)).toBe(1);
    const first = c.clientId;
    expect(await gateways[holder]!.stop("SIGTERM")).toBe(0);
    await c.until(() => c.clientId !== first && String(c.centrifuge.state) === "connected", "connected again", 10_000);
    expect(await streamsOf(other)).toBe(1);
    await sub.publish({ n: 1 });
    await c.waitFor("chat:lb-moving", 2);
    expect(c.data("chat:lb-moving")).toEqual([{ n: 0 }, { n: 1 }]);
    expect(c.subscribed.filter((s) => s.channel === "chat:lb-moving").at(-1)).toMatchObject({ wasRecovering: true, recovered: true });
    await other[Symbol.asyncDispose]();
  });
});

describe("deploy/nginx.conf and the streaming transports (a streaming upstream in place of the gateway's routes)", () => {
  test("http_stream, sse and the unidirectional streams pass byte by byte: the first line arrives while the upstream holds the second", async () => {
    using up = streamingUpstream();
    await using lb = await LocalLb.start([up.port]);
    const cfConnect = encodeURIComponent(JSON.stringify({ id: 1, connect: { token: "secret-token" } }));
    const requests: Array<[string, RequestInit]> = [
      ["/connection/http_stream", { method: "POST", body: '{"id":1,"connect":{}}' }],
      [`/connection/sse?cf_connect=${cfConnect}`, {}],
      ["/connection/uni_http_stream", { method: "POST", body: '{"token":"t"}' }],
      [`/connection/uni_sse?cf_connect=${cfConnect}`, {}],
    ];
    for (const [i, [path, init]] of requests.entries()) {
      const res = await fetch(`http://127.0.0.1:${lb.port}${path}`, init);
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      let text = "";
      // The upstream sends "second" only once the first arrived here: a buffering proxy would hold "first" and this would time out.
      while (!text.includes("first")) text += new TextDecoder().decode((await reader.read()).value);
      expect(text).not.toContain("second");
      up.releases[i]!();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      expect(text).toContain("second");
      if (path.includes("sse")) expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    }
    // The request reached the upstream as it was sent, body and cf_connect included; the access log has neither.
    expect(up.seen.map((s) => [s.method, s.path])).toEqual(requests.map(([p, init]) => [init.method ?? "GET", p.split("?")[0]!]));
    expect(up.seen[0]!.body).toBe('{"id":1,"connect":{}}');
    expect(up.seen[1]!.query).toBe(`?cf_connect=${cfConnect}`);
    await waitFor("logged", () => lb.accessLog.includes("/connection/uni_sse"), 5000);
    expect(lb.accessLog).not.toContain("cf_connect");
    expect(lb.accessLog).not.toContain("secret-token");
  });

  test("a client that stops reading behind nginx stalls the gateway's stream within a few MB (nginx passes the stall back, never spools it to disk): the slow-reader cut applies", async () => {
    // The gateway's own stream (the transport kit) as the upstream, with a small limit.
    const limit = 256 * 1024;
    const hub = new Hub(() => undefined);
    let t: StreamTransport | undefined;
    using up = {
      server: Bun.serve({
        port: 0,
        fetch(req, server) {
          const o = openHttpStream({ limitBytes: limit, hub, server, req, encoding: "json", unidirectional: false });
          t = o.transport;
          // Without the gateway's `X-Accel-Buffering: no`, so that what is checked is deploy/nginx.conf itself.
          const headers = new Headers(o.response.headers);
          headers.delete("x-accel-buffering");
          return new Response(o.response.body, { headers });
        },
      }),
      [Symbol.dispose]() {
        this.server.stop(true);
      },
    };
    await using lb = await LocalLb.start([up.server.port!]);
    const sock = connect(lb.port, "127.0.0.1");
    await new Promise<void>((resolve) => sock.on("connect", () => resolve()));
    sock.on("error", () => undefined);
    sock.write("POST /connection/http_stream HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
    sock.pause(); // reads nothing from now on
    await waitFor("stream opened", () => t !== undefined);
    const frame = JSON.stringify({ push: { channel: "c", pub: { data: "x".repeat(16 * 1024) } } });
    // A producer that keeps the stream's queue under its limit, as long as the queue drains: what
    // leaves the gateway goes to nginx. Stalled: no byte left for a second.
    let written = 0;
    let left = 0;
    let progressAt = Date.now();
    while (Date.now() - progressAt < 1000 && written < 128 * 1024 * 1024) {
      if (t!.bufferedBytes() < limit) {
        expect(t!.write(frame)).toBe(true);
        written += frame.length + 1;
      } else await Bun.sleep(5);
      const nowLeft = written - t!.bufferedBytes();
      if (nowLeft > left) {
        left = nowLeft;
        progressAt = Date.now();
      }
    }
    // Kernel buffers on both sides of nginx take some MB, nginx itself (buffering off) a few KB. With
    // proxy_buffering on, nginx would take everything (spooled to disk) and the stall would never reach the gateway.
    expect(left).toBeLessThan(48 * 1024 * 1024);
    expect(t!.slow || t!.bufferedBytes() >= limit - frame.length).toBe(true);
    t!.close({ code: 3008, reason: "slow" });
    expect(t!.closedBy).toBe("slow"); // too far behind for the disconnect push: cut
    sock.destroy();
  });

  test("/emulation reaches a gateway: the POST body in, its status out", async () => {
    using up = streamingUpstream();
    await using lb = await LocalLb.start([up.port]);
    const body = JSON.stringify({ node: "g1", session: "s".repeat(43), data: '{"id":2,"subscribe":{"channel":"chat:x"}}' });
    const res = await fetch(`http://127.0.0.1:${lb.port}/emulation`, { method: "POST", headers: { "Content-Type": "application/json" }, body });
    expect(res.status).toBe(204);
    expect(up.seen).toEqual([{ method: "POST", path: "/emulation", query: "", body }]);
  });

  test("a stream connect that a full replica refused (503) goes to the next replica", async () => {
    using full = streamingUpstream({ refuseStreams: true });
    using ok = streamingUpstream();
    await using lb = await LocalLb.start([full.port, ok.port]);
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`http://127.0.0.1:${lb.port}/connection/http_stream`, { method: "POST", body: '{"id":1,"connect":{}}' });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      let text = "";
      while (!text.includes("first")) text += new TextDecoder().decode((await reader.read()).value);
      ok.releases.at(-1)!();
      await reader.cancel();
    }
    expect(ok.seen.length).toBe(4);
  });
});
