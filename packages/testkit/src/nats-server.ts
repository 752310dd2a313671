import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort, portOpen, waitFor } from "./ports.ts";

/** Finds nats-server on PATH or at Debian's path. */
export function natsServerBinary(): string | undefined {
  return Bun.which("nats-server") ?? (existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : undefined);
}

/** A private nats-server with JetStream on a free port and a temporary store. */
export class TestNats implements AsyncDisposable {
  private proc: Subprocess | undefined;
  private constructor(readonly port: number, readonly storeDir: string) {}

  /** nats://127.0.0.1:port */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts a server; `await using nats = await TestNats.start()`. */
  static async start(): Promise<TestNats> {
    const n = new TestNats(await freePort(), mkdtempSync(join(tmpdir(), "rt-nats-")));
    await n.restart();
    return n;
  }

  /** (Re)starts the server on the same port and store. */
  async restart(): Promise<void> {
    const bin = natsServerBinary();
    if (!bin) throw new Error("nats-server not found: apt-get install -y nats-server");
    this.proc = Bun.spawn([bin, "-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.storeDir], {
      stdout: "ignore",
      stderr: "ignore",
    });
    await waitFor(`nats-server on ${this.port}`, () => portOpen(this.port), 10_000);
    await waitFor(`nats-server JetStream on ${this.port}`, () => jsReady(this.port), 10_000, 50);
  }

  /** Stops the server (SIGKILL when `hard`), keeping the store for a restart. */
  async stop(hard = false): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p) return;
    p.kill(hard ? "SIGKILL" : "SIGTERM");
    await p.exited;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop(true);
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

async function jsReady(port: number): Promise<boolean> {
  const { connect } = await import("@nats-io/transport-node");
  const nc = await connect({ servers: `127.0.0.1:${port}`, maxReconnectAttempts: 0 });
  try {
    const r = await nc.request("$JS.API.INFO", "", { timeout: 1000 });
    return !r.string().includes("\"error\"");
  } finally {
    await nc.close();
  }
}
