import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { natsServerBinary } from "@rt/runtime";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { NATS_ADMIN, NATS_AUTH_CONF, includePath, natsServerEnv } from "./nats-auth.ts";
import { freePort, portOpen, waitFor } from "./ports.ts";

export { natsServerBinary };

/** How a TestNats runs. */
export interface TestNatsOptions {
  /** JetStream on (the default) or off. */
  jetstream?: boolean;
  /** The server's `max_payload` (default 1 MiB). */
  maxPayload?: number;
  /**
   * The server's whole configuration, in place of deploy/nats/auth.conf: for tests of credentials
   * the shipped file does not use (nkeys, accounts). Without the shipped `admin` user there is no
   * JetStream readiness check: combine it with `jetstream: false`.
   */
  config?: string;
}

/** A private nats-server with JetStream on a free port and a temporary store. */
export class TestNats implements AsyncDisposable {
  private proc: Subprocess | undefined;
  private constructor(readonly port: number, readonly storeDir: string, private opts: TestNatsOptions) {}

  /** The server's process id (undefined while stopped). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** nats://127.0.0.1:port */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts a server; `await using nats = await TestNats.start()`. */
  static async start(opts: TestNatsOptions = {}): Promise<TestNats> {
    const n = new TestNats(await freePort(), mkdtempSync(join(tmpdir(), "rt-nats-")), opts);
    await n.restart();
    return n;
  }

  /** (Re)starts the server on the same port and store; `opts` change how (JetStream on or off, ...). */
  async restart(opts: TestNatsOptions = {}): Promise<void> {
    this.opts = { ...this.opts, ...opts };
    const bin = natsServerBinary();
    if (!bin) throw new Error("nats-server not found: apt-get install -y nats-server");
    // The shipped users and permissions (deploy/nats/auth.conf), in a config of its own when max_payload is set too; or the test's own.
    let conf = NATS_AUTH_CONF;
    if (this.opts.config !== undefined) {
      conf = join(this.storeDir, "own.conf");
      writeFileSync(conf, this.opts.config);
    } else if (this.opts.maxPayload !== undefined) {
      conf = join(this.storeDir, "extra.conf");
      writeFileSync(conf, `include "${includePath(conf)}"\nmax_payload: ${this.opts.maxPayload}\n`);
    }
    const args = [bin, "-c", conf, "-a", "127.0.0.1", "-p", String(this.port)];
    const js = this.opts.jetstream ?? true;
    if (js) args.push("-js", "-sd", this.storeDir);
    this.proc = Bun.spawn(args, { stdout: "ignore", stderr: "ignore", env: { ...process.env, ...natsServerEnv() } });
    await waitFor(`nats-server on ${this.port}`, () => portOpen(this.port), 10_000);
    if (js) await waitFor(`nats-server JetStream on ${this.port}`, () => jsReady(this.port), 10_000, 50);
  }

  /** Stops the server (SIGKILL when `hard`), keeping the store for a restart. */
  async stop(hard = false): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p) return;
    p.kill(hard ? "SIGKILL" : "SIGTERM");
    await p.exited;
  }

  /** Kills the server and removes its store, synchronously (for an `exit` handler after a crash). */
  killNow(): void {
    this.proc?.kill("SIGKILL");
    rmSync(this.storeDir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop(true);
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

async function jsReady(port: number): Promise<boolean> {
  const { connect } = await import("@nats-io/transport-node");
  const nc = await connect({ ...NATS_ADMIN, servers: `127.0.0.1:${port}`, maxReconnectAttempts: 0 });
  try {
    const r = await nc.request("$JS.API.INFO", "", { timeout: 1000 });
    return !r.string().includes("\"error\"");
  } finally {
    await nc.close();
  }
}
