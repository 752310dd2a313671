import type { ServiceProcess } from "@rt/testkit";
import { signToken } from "@rt/testkit";
import type { OpenGroup, SessionStats } from "../client/messages.ts";
import { sumSessions } from "../client/session.ts";
import { split, type Ctx } from "../lib/plan.ts";
import type { ClientWorker } from "../lib/pool.ts";
import { CpuMeter } from "../lib/proc.ts";
import { distribution, round, si } from "../lib/stats.ts";
import { startGateways, startGoPeer, startNotifier, startRawBun, type Target } from "../lib/targets.ts";
import type { ConnectStormResult } from "../report/types.ts";

const HOST = "127.0.0.1";
const PATH = "/connection/websocket";
const CHANNEL = "chat:storm";
/** What each client sends after its upgrade, in one frame: connect with its own token, and subscribe. */
const HANDSHAKE = `{"id":1,"connect":{"token":"$TOKEN"}}\n{"id":2,"subscribe":{"channel":"${CHANNEL}"}}`;

/** The summed session stats of `workers`. */
export async function sessionsOf(workers: ClientWorker[], args: { upTo?: number; times?: boolean } = {}): Promise<SessionStats> {
  return sumSessions(await Promise.all(workers.map((w) => w.request<SessionStats>({ op: "sessions", ...args }))));
}

/** `n` HS256 tokens of distinct users `${prefix}-<k>`, signed with the secret startGateways gives the gateway. */
export function tokensFor(prefix: string, n: number): Promise<string[]> {
  return Promise.all(Array.from({ length: n }, (_, k) => signToken(`${prefix}-${k}`)));
}

/** `tokens` spread over the workers: one group each (empty groups left out); a client without a handshake needs no token. */
function groupsPerWorker(port: number, tokens: string[], workers: number, client: { path: string; handshake?: string; v1?: boolean }): OpenGroup[][] {
  let at = 0;
  return split(tokens.length, workers).map((count) => {
    const mine = tokens.slice(at, (at += count));
    if (count === 0) return [];
    const { path, handshake, v1 } = client;
    return [handshake === undefined ? { host: HOST, port, path, count } : { host: HOST, port, path, count, handshake, tokens: mine, ...(v1 ? { v1 } : {}) }];
  });
}

/** What a client of `target` sends after its upgrade and how it counts as connected. */
function clientOf(target: ConnectStormResult["target"]): { path: string; handshake?: string; v1?: boolean; mode: "protocol" | "count" } {
  switch (target) {
    case "gateway":
      return { path: PATH, handshake: HANDSHAKE, mode: "protocol" };
    case "centrifuge-go":
      // The Go peer's JSON protocol v1 (methods 0 connect, 1 subscribe); it checks the token as the gateway does (HS256, same secret).
      return { path: PATH, handshake: `{"id":1,"method":0,"params":{"token":"$TOKEN"}}\n{"id":2,"method":1,"params":{"channel":"${CHANNEL}"}}`, v1: true, mode: "protocol" };
    case "raw-bun":
      // The floor: accept and upgrade, nothing more (a raw Bun room; no token, no reply).
      return { path: "/chat/storm", mode: "count" };
  }
}

/**
 * Connect storm: `clients` clients, each its own user with an HS256 token signed beforehand, open a
 * socket to one gateway's `/connection/websocket` and send connect + subscribe (`chat:storm`) in one
 * frame, as fast as `concurrency` clients per client process allow (a client process opens its
 * next socket when one of its sockets got its subscribe reply). A client counts once that reply
 * arrived without error (only the first frames of a socket are decoded). Connections a second =
 * clients counted / (first TCP connect to last subscribe reply); the gateway's CPU over the same
 * time. The notifier runs (its streams exist), as in production: each connect also places the
 * user's inbox (`#<user>`). A warm-up storm of a tenth of the clients (closed again) runs first.
 * The same storm then goes to the Go peer (its protocol v1, the same tokens checked, the user's
 * `#<user>` subscribed on its side), and to raw Bun as the floor: accept and upgrade alone, a
 * client counted at its 101.
 */
export async function runConnect(ctx: Ctx): Promise<ConnectStormResult[]> {
  const p = ctx.plan.connect;
  ctx.progress.status(`connect storm: signing ${si(p.clients)} tokens`);
  const warmTokens = await tokensFor("storm-warm", Math.max(10, Math.round(p.clients / 10)));
  const tokens = await tokensFor("storm", p.clients);
  const out = [await storm(ctx, "gateway", warmTokens, tokens)];
  if (ctx.plan.goPeer) out.push(await storm(ctx, "centrifuge-go", warmTokens, tokens));
  out.push(await storm(ctx, "raw-bun", warmTokens, tokens));
  return out;
}

async function storm(ctx: Ctx, target: ConnectStormResult["target"], warmTokens: string[], tokens: string[]): Promise<ConnectStormResult> {
  const { progress } = ctx;
  const p = ctx.plan.connect;
  const what = `connect storm (${target})`;
  const r: ConnectStormResult = {
    target,
    clients: p.clients,
    clientWorkers: p.workers,
    concurrency: p.concurrency * p.workers,
    established: 0,
    failed: 0,
    failures: {},
    durationMs: 0,
    connectionsPerSec: 0,
    connectMs: distribution([]),
    serverCpuPercent: 0,
    cpuMsPerConnection: 0,
    clientCpuPercent: 0,
    natsCpuPercent: 0,
    lost: 0,
  };
  const workers = ctx.pool.take(p.workers);
  const client = clientOf(target);
  let notifier: ServiceProcess | undefined;
  let server: Target | undefined;
  try {
    progress.status(`${what}: starting`);
    if (target === "gateway") {
      notifier = await startNotifier(ctx.nats.url);
      server = await startGateways(1, ctx.nats.url, { PING_INTERVAL_SEC: "3600" });
    } else server = target === "centrifuge-go" ? await startGoPeer() : await startRawBun();
    const port = server.ports[0]!;

    // Warm-up (not measured): the server's JIT and NATS paths, then every socket closed again.
    const warm = groupsPerWorker(port, warmTokens, workers.length, client);
    await progress.watch(Promise.all(workers.map((w, i) => w.open(warm[i]!, client.mode, p.concurrency))), async () => `${what}: warm-up, ${si((await ctx.pool.stats(workers.length)).open)} open`);
    await Promise.all(workers.map((w) => w.closeAll()));
    await Bun.sleep(300);

    await ctx.pool.reset(workers.length);
    const groups = groupsPerWorker(port, tokens, workers.length, client);
    const cpu = new CpuMeter(server.pids);
    const clientCpu = new CpuMeter(workers.map((w) => w.pid));
    const natsCpu = new CpuMeter(ctx.nats.pid === undefined ? [] : [ctx.nats.pid]);
    const t0 = performance.now();
    const opening = Promise.all(workers.map((w, i) => w.open(groups[i]!, client.mode, p.concurrency)));
    const opened = await progress.watch(opening, async () => {
      const n = client.mode === "protocol" ? (await sessionsOf(workers)).ready : (await ctx.pool.stats(workers.length)).open;
      return `${what}: ${si(n)} of ${si(p.clients)} connected, ${si((n * 1000) / (performance.now() - t0))}/s`;
    });
    const wallMs = performance.now() - t0;
    const cpuSec = cpu.seconds();
    const clientCpuPct = clientCpu.percent(wallMs);
    r.natsCpuPercent = Math.round(natsCpu.percent(wallMs));
    r.established = opened.reduce((a, o) => a + o.opened, 0);
    r.failed = opened.reduce((a, o) => a + o.failed, 0);
    if (client.mode === "protocol") {
      const s = await sessionsOf(workers, { times: true });
      r.failures = s.failures;
      r.durationMs = Math.round(s.lastReadyAt - s.firstStartAt);
      r.connectMs = distribution(s.readyMs ?? []);
    } else {
      // Upgrades only: first TCP connect to the last 101, from the client processes' own clocks.
      const started = opened.filter((o) => o.startedAt > 0);
      r.durationMs = started.length ? Math.round(Math.max(...started.map((o) => o.settledAt)) - Math.min(...started.map((o) => o.startedAt))) : 0;
      for (const o of opened) for (const e of o.errors) r.failures[e] = (r.failures[e] ?? 0) + 1;
    }
    r.connectionsPerSec = r.durationMs > 0 ? Math.round((r.established * 1000) / r.durationMs) : 0;
    r.serverCpuPercent = Math.round((cpuSec * 100_000) / wallMs);
    r.cpuMsPerConnection = r.established > 0 ? round((cpuSec * 1000) / r.established, 3) : 0;
    r.clientCpuPercent = Math.round(clientCpuPct);
    if (r.failed > 0) progress.log(`${what}: ${r.failed} clients failed: ${opened.flatMap((o) => o.errors).slice(0, 3).join("; ")}`);
    progress.log(
      `${what}: ${si(r.established)} clients in ${r.durationMs} ms = ${si(r.connectionsPerSec)} connections/s` +
        (client.mode === "protocol" ? ` (JWT, connect + subscribe), connect-to-reply p50 ${r.connectMs.p50.toFixed(1)} ms p99 ${r.connectMs.p99.toFixed(1)} ms` : " (accept and upgrade only)") +
        `, server CPU ${r.serverCpuPercent}% (${r.cpuMsPerConnection} ms a connection), nats-server ${r.natsCpuPercent}%, clients ${r.clientCpuPercent}%`,
    );
  } catch (err) {
    r.error = `${what}: ${String(err)}`;
    progress.log(r.error);
  } finally {
    progress.status(`${what}: closing`);
    await Promise.all(workers.map((w) => w.closeAll().catch(() => 0)));
    await server?.[Symbol.asyncDispose]();
    await notifier?.[Symbol.asyncDispose]();
  }
  return r;
}
