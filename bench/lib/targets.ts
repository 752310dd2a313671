import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { ServiceProcess, TEST_JWT_SECRET, freePort, portOpen } from "@rt/testkit";

/** A server under test: one or more processes, each listening on its own port. */
export interface Target extends AsyncDisposable {
  /** `gateway`, `raw-bun` or `node-ws`. */
  readonly name: TargetName;
  readonly ports: number[];
  readonly pids: number[];
}

/** `gateway-protocol`: a gateway measured through `/connection/websocket` (the client protocol, `chat:` channels with history). */
export type TargetName = "gateway" | "gateway-protocol" | "raw-bun" | "node-ws";

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

/** `n` gateway processes on separate ports (the notifier, if needed, must already run: it creates the stream). */
export async function startGateways(n: number, natsUrl: string, env: Record<string, string> = {}, name: TargetName = "gateway"): Promise<Target> {
  const started = await Promise.allSettled(
    Array.from({ length: n }, () =>
      ServiceProcess.start("gateway", { NATS_URL: natsUrl, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "warn", ...env }),
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
export async function startNotifier(natsUrl: string): Promise<ServiceProcess> {
  return tracked(await ServiceProcess.start("notifier", { NATS_URL: natsUrl, LOG_LEVEL: "warn" }));
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

/** Baseline (b): bench/baselines/node-ws/server.mjs under Node, installed on first use. */
export async function startNodeWs(natsUrl: string): Promise<Target> {
  await ensureNodeBaseline();
  const port = await freePort();
  const proc = Bun.spawn(["node", join(NODE_WS, "server.mjs")], {
    cwd: NODE_WS,
    env: { ...process.env, PORT: String(port), NATS_URL: natsUrl },
    stdio: ["ignore", "ignore", "inherit"],
  });
  return processTarget("node-ws", proc, port);
}

/** Installs the Node baseline's dependencies (ws, the NATS client) when node_modules is missing. */
export async function ensureNodeBaseline(): Promise<void> {
  if (existsSync(join(NODE_WS, "node_modules", "ws")) && existsSync(join(NODE_WS, "node_modules", "@nats-io", "transport-node"))) return;
  if (!Bun.which("node") || !Bun.which("npm")) throw new Error("node and npm are needed for the node-ws baseline");
  const lock = existsSync(join(NODE_WS, "package-lock.json"));
  const proc = Bun.spawn(["npm", lock ? "ci" : "install", "--prefix", NODE_WS, "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: NODE_WS,
    stdio: ["ignore", "ignore", "pipe"],
  });
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`npm install for bench/baselines/node-ws failed (${code}): ${err.trim()}`);
}

async function processTarget(name: TargetName, proc: Subprocess, port: number): Promise<Target> {
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    await proc.exited;
  };
  const deadline = Date.now() + 15_000;
  while (!(await portOpen(port))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`${name} did not start on port ${port} (exit code ${proc.exitCode})`);
    }
    await Bun.sleep(25);
  }
  return tracked({ name, ports: [port], pids: [proc.pid], [Symbol.asyncDispose]: stop });
}
