// deploy/nginx.conf, run by deploy/nginx-local.sh with Debian's nginx, in front of two real gateways:
// the points of compose's load balancer that can be checked without Docker.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { ROOT, ServiceProcess, TEST_JWT_SECRET, TestNats, TestSocket, freePort, rssBytes, signToken, upgradeStatus, waitFor } from "@rt/testkit";

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
