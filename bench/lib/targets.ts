import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { NATS_ADMIN, ServiceProcess, TEST_JWT_SECRET, freePort, portOpen } from "@rt/testkit";
import { ensureGoPeer } from "./centrifuge-go.ts";

/** A server under test: one or more processes, each listening on its own port. */
export interface Target extends AsyncDisposable {
  /** `gateway`, `raw-bun`, `node-ws`, `socketio`... */
  readonly name: TargetName;
  readonly ports: number[];
  /** The WebSocket server processes (their CPU and RSS are measured); a broker (nats-server, redis-server) is not among them. */
  readonly pids: number[];
}

/**
 * `gateway-protocol`: a gateway measured through `/connection/websocket` (the client protocol, `chat:` channels with history).
 * `gateway-nohistory`: the same through a namespace without history (`live:`, from a CHANNELS_FILE).
 * `socketio`: Socket.IO 4.8 processes sharing rooms through @socket.io/redis-adapter and their own redis-server.
 * `centrifuge-go`: the Go centrifuge library (bench/baselines/centrifuge-go), through its JSON protocol v1, `chat:` with history.
 * `nats-floor`, `jetstream-floor`: raw Bun rooms whose every message crosses core NATS, or a JetStream stream with RePublish.
 */
export type TargetName = "gateway" | "gateway-protocol" | "gateway-nohistory" | "raw-bun" | "node-ws" | "socketio" | "centrifuge-go" | "nats-floor" | "jetstream-floor";

const BASELINES = join(import.meta.dir, "..", "baselines");
/** Every server process started and not yet stopped, so an interrupted run can still stop them. */
const live = new Set<AsyncDisposable>();

/** Stops every server process still running (on SIGINT, SIGTERM or the watchdog). */
export async function stopAll(): Promise<void> {
  await Promise.allSettled([...live].map((d) => d[Symbol.asyncDispose]()));
  live.clear();
}

function tracked<T extends AsyncDisposable>(d: T): T {
  live.add(d);
  const dispose = d[Symbol.asyncDispose].bind(d);
  d[Symbol.asyncDispose] = async () => {
    live.delete(d);
    await dispose();
  };
  return d;
}
const NODE_WS = join(BASELINES, "node-ws");
const SOCKET_IO = join(BASELINES, "socketio-redis");

/** BENCH_GATEWAY_BUN_OPTIONS (say `--cpu-prof-md --cpu-prof-dir=/tmp/prof`) as the gateways' BUN_OPTIONS: a profile of the gateways alone. */
function gatewayBunOptions(): Record<string, string> {
  const opts = process.env.BENCH_GATEWAY_BUN_OPTIONS;
  return opts ? { BUN_OPTIONS: opts } : {};
}

/** `n` gateway processes on separate ports (the notifier, if needed, must already run: it creates the stream). */
export async function startGateways(n: number, natsUrl: string, env: Record<string, string> = {}, name: TargetName = "gateway"): Promise<Target> {
  const started = await Promise.allSettled(
    Array.from({ length: n }, () =>
      ServiceProcess.start("gateway", { NATS_URL: natsUrl, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "warn", ...gatewayBunOptions(), ...env }),
    ),
  );
  const gateways = started.flatMap((r) => (r.status === "fulfilled" ? [tracked(r.value)] : []));
  const failure = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failure) {
    await Promise.all(gateways.map((g) => g[Symbol.asyncDispose]()));
    throw failure.reason;
  }
  return {
    name,
    ports: gateways.map((g) => g.port!),
    pids: gateways.map((g) => g.proc.pid),
    async [Symbol.asyncDispose]() {
      // Gracefully first (a CPU profile asked for with BUN_OPTIONS is written at exit), killed after 3 s.
      await Promise.all(gateways.map((g) => Promise.race([g.stop("SIGTERM"), Bun.sleep(3000)])));
      await Promise.all(gateways.map((g) => g[Symbol.asyncDispose]()));
    },
  };
}

/** The notifier (creates the notifications stream; start it before gateways that serve /notifications). */
export async function startNotifier(natsUrl: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
  return tracked(await ServiceProcess.start("notifier", { NATS_URL: natsUrl, LOG_LEVEL: "warn", ...env }));
}

/** Baseline (a): bench/baselines/raw-bun.ts. */
export async function startRawBun(): Promise<Target> {
  const port = await freePort();
  const proc = Bun.spawn([process.execPath, join(BASELINES, "raw-bun.ts")], {
    env: { ...process.env, PORT: String(port) },
    stdio: ["ignore", "ignore", "inherit"],
  });
  return processTarget("raw-bun", proc, port);
}

/**
 * The Go peer: bench/baselines/centrifuge-go (built on first use). It checks HS256 tokens with the
 * secret startGateways gives the gateway, and pings once an hour as the gateway's bench arms do.
 */
export async function startGoPeer(): Promise<Target> {
  const bin = await ensureGoPeer();
  const port = await freePort();
  const proc = Bun.spawn([bin], {
    env: { ...process.env, PORT: String(port), JWT_SECRET: TEST_JWT_SECRET, PING_INTERVAL_SEC: "3600" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  return processTarget("centrifuge-go", proc, port);
}

/**
 * A NATS floor (bench/baselines/nats-floor.ts or jetstream-floor.ts) in `processes` processes, each
 * on its own port, sharing rooms through the bench's nats-server as the bench's admin user (the
 * floors use subjects none of the shipped roles has).
 */
export function startFloor(name: "nats-floor" | "jetstream-floor", natsUrl: string, processes = 1): Promise<Target> {
  return several(name, processes, async () => {
    const port = await freePort();
    const proc = Bun.spawn([process.execPath, join(BASELINES, `${name}.ts`)], {
      env: { ...process.env, PORT: String(port), NATS_URL: natsUrl, NATS_USER: NATS_ADMIN.user, NATS_PASSWORD: NATS_ADMIN.pass },
      stdio: ["ignore", "ignore", "inherit"],
    });
    return processTarget(name, proc, port);
  });
}

/** The namespace without history the `gateway-nohistory` arms subscribe in. */
export const NO_HISTORY_NAMESPACE = "live";

/**
 * A CHANNELS_FILE with one namespace without history (`live`), which anonymous subscribers may
 * join and publish in; written once per run into a temporary folder.
 */
export function noHistoryChannelsFile(): string {
  noHistoryFile ??= (() => {
    const path = join(mkdtempSync(join(tmpdir(), "bench-channels-")), "channels.json");
    const live = {
      name: NO_HISTORY_NAMESPACE,
      allow_subscribe_for_client: true,
      allow_subscribe_for_anonymous: true,
      allow_publish_for_subscriber: true,
      allow_publish_for_anonymous: true,
    };
    writeFileSync(path, JSON.stringify({ channel: { namespaces: [live] } }, null, 2));
    return path;
  })();
  return noHistoryFile;
}
let noHistoryFile: string | undefined;

/** `n` processes started by `one`, as one target; if one fails, the others are stopped. */
async function several(name: TargetName, n: number, one: () => Promise<Target>): Promise<Target> {
  const started = await Promise.allSettled(Array.from({ length: n }, one));
  const ok = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.all(ok.map((t) => t[Symbol.asyncDispose]()));
  };
  const failure = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failure) {
    await stop();
    throw failure.reason;
  }
  return { name, ports: ok.flatMap((t) => t.ports), pids: ok.flatMap((t) => t.pids), [Symbol.asyncDispose]: stop };
}

/** Baseline (b): bench/baselines/node-ws/server.mjs under Node, installed on first use. */
export async function startNodeWs(natsUrl: string): Promise<Target> {
  await ensureNodeBaseline();
  const port = await freePort();
  const proc = Bun.spawn(["node", join(NODE_WS, "server.mjs")], {
    cwd: NODE_WS,
    // The bench's own NATS user: the baseline relays on subjects none of the shipped roles has.
    env: { ...process.env, PORT: String(port), NATS_URL: natsUrl, NATS_USER: NATS_ADMIN.user, NATS_PASSWORD: NATS_ADMIN.pass },
    stdio: ["ignore", "ignore", "inherit"],
  });
  return processTarget("node-ws", proc, port);
}

/** Installs the Node baseline's dependencies (ws, the NATS client) when node_modules is missing. */
export function ensureNodeBaseline(): Promise<void> {
  return ensureNpmBaseline(NODE_WS, ["ws", "@nats-io/transport-node"]);
}

/** Installs a baseline's npm dependencies (`npm ci` from its lock file) when one of `modules` is missing from its node_modules. */
async function ensureNpmBaseline(dir: string, modules: string[]): Promise<void> {
  if (modules.every((m) => existsSync(join(dir, "node_modules", m)))) return;
  const name = `bench/baselines/${dir.split("/").pop()}`;
  if (!Bun.which("node") || !Bun.which("npm")) throw new Error(`node and npm are needed for ${name}`);
  const lock = existsSync(join(dir, "package-lock.json"));
  const proc = Bun.spawn(["npm", lock ? "ci" : "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
  });
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`npm install for ${name} failed (${code}): ${err.trim()}`);
}

/**
 * Baseline (c): `processes` Node processes of bench/baselines/socketio-redis/server.mjs (installed
 * on first use), each on its own port, sharing rooms through @socket.io/redis-adapter and a
 * redis-server of their own on a free port (never a shared one). The target's pids are the Node
 * processes only: redis-server, like the gateway's nats-server, is the broker and not counted.
 */
export async function startSocketIo(processes = 2): Promise<Target> {
  await ensureNpmBaseline(SOCKET_IO, ["socket.io", "@socket.io/redis-adapter", "redis"]);
  const redis = await startRedis();
  const redisUrl = `redis://127.0.0.1:${redis.ports[0]}`;
  const started = await Promise.allSettled(
    Array.from({ length: processes }, async () => {
      const port = await freePort();
      const proc = Bun.spawn(["node", join(SOCKET_IO, "server.mjs")], {
        cwd: SOCKET_IO,
        env: { ...process.env, PORT: String(port), REDIS_URL: redisUrl },
        stdio: ["ignore", "ignore", "inherit"],
      });
      return processTarget("socketio", proc, port);
    }),
  );
  const nodes = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n[Symbol.asyncDispose]()));
    await redis[Symbol.asyncDispose]();
  };
  const failure = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failure) {
    await stop();
    throw failure.reason;
  }
  return { name: "socketio", ports: nodes.flatMap((n) => n.ports), pids: nodes.flatMap((n) => n.pids), [Symbol.asyncDispose]: stop };
}

/** A redis-server of our own on a free port, in memory only (no RDB, no AOF). */
async function startRedis(): Promise<Target> {
  const bin = Bun.which("redis-server") ?? (existsSync("/usr/bin/redis-server") ? "/usr/bin/redis-server" : undefined);
  if (!bin) throw new Error("redis-server is needed for the socketio baseline (apt-get install redis-server)");
  const port = await freePort();
  const proc = Bun.spawn([bin, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmpdir()], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  return processTarget("socketio", proc, port, "redis-server");
}

async function processTarget(name: TargetName, proc: Subprocess, port: number, what: string = name): Promise<Target> {
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    await proc.exited;
  };
  const deadline = Date.now() + 15_000;
  while (!(await portOpen(port))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`${what} did not start on port ${port} (exit code ${proc.exitCode})`);
    }
    await Bun.sleep(25);
  }
  return tracked({ name, ports: [port], pids: [proc.pid], [Symbol.asyncDispose]: stop });
}
