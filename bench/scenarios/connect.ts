import type { ServiceProcess } from "@rt/testkit";
import { signToken } from "@rt/testkit";
import type { OpenGroup, SessionStats } from "../client/messages.ts";
import { sumSessions } from "../client/session.ts";
import { split, type Ctx } from "../lib/plan.ts";
import type { ClientWorker } from "../lib/pool.ts";
import { CpuMeter } from "../lib/proc.ts";
import { distribution, round, si } from "../lib/stats.ts";
import { startGateways, startNotifier, type Target } from "../lib/targets.ts";
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

/** `tokens` spread over the workers: one group each (empty groups left out). */
function groupsPerWorker(port: number, tokens: string[], workers: number): OpenGroup[][] {
  let at = 0;
  return split(tokens.length, workers).map((count) => {
    const mine = tokens.slice(at, (at += count));
    return count > 0 ? [{ host: HOST, port, path: PATH, count, handshake: HANDSHAKE, tokens: mine }] : [];
  });
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
 */
export async function runConnect(ctx: Ctx): Promise<ConnectStormResult[]> {
  const { progress } = ctx;
  const p = ctx.plan.connect;
  const r: ConnectStormResult = {
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
  let notifier: ServiceProcess | undefined;
  let gateway: Target | undefined;
  try {
    progress.status("connect storm: starting the notifier and a gateway");
    notifier = await startNotifier(ctx.nats.url);
    gateway = await startGateways(1, ctx.nats.url, { PING_INTERVAL_SEC: "3600" });
    const port = gateway.ports[0]!;
    progress.status(`connect storm: signing ${si(p.clients)} tokens`);
    const warmTokens = await tokensFor("storm-warm", Math.max(10, Math.round(p.clients / 10)));
    const tokens = await tokensFor("storm", p.clients);

    // Warm-up (not measured): the gateway's JIT and NATS paths, then every socket closed again.
    const warm = groupsPerWorker(port, warmTokens, workers.length);
    await progress.watch(Promise.all(workers.map((w, i) => w.open(warm[i]!, "protocol", p.concurrency))), async () => `connect storm: warm-up, ${si((await sessionsOf(workers)).ready)} subscribed`);
    await Promise.all(workers.map((w) => w.closeAll()));
    await Bun.sleep(300);

    await ctx.pool.reset(workers.length);
    const groups = groupsPerWorker(port, tokens, workers.length);
    const cpu = new CpuMeter(gateway.pids);
    const clientCpu = new CpuMeter(workers.map((w) => w.pid));
    const natsCpu = new CpuMeter(ctx.nats.pid === undefined ? [] : [ctx.nats.pid]);
    const t0 = performance.now();
    const storm = Promise.all(workers.map((w, i) => w.open(groups[i]!, "protocol", p.concurrency)));
    const opened = await progress.watch(storm, async () => {
      const s = await sessionsOf(workers);
      return `connect storm: ${si(s.ready)} of ${si(p.clients)} subscribed, ${si((s.ready * 1000) / (performance.now() - t0))}/s`;
    });
    const wallMs = performance.now() - t0;
    const cpuSec = cpu.seconds();
    const clientCpuPct = clientCpu.percent(wallMs);
    r.natsCpuPercent = Math.round(natsCpu.percent(wallMs));
    const s = await sessionsOf(workers, { times: true });
    r.established = opened.reduce((a, o) => a + o.opened, 0);
    r.failed = opened.reduce((a, o) => a + o.failed, 0);
    r.failures = s.failures;
    r.durationMs = Math.round(s.lastReadyAt - s.firstStartAt);
    r.connectionsPerSec = r.durationMs > 0 ? Math.round((r.established * 1000) / r.durationMs) : 0;
    r.connectMs = distribution(s.readyMs ?? []);
    r.serverCpuPercent = Math.round((cpuSec * 100_000) / wallMs);
    r.cpuMsPerConnection = r.established > 0 ? round((cpuSec * 1000) / r.established, 3) : 0;
    r.clientCpuPercent = Math.round(clientCpuPct);
    if (r.failed > 0) progress.log(`connect storm: ${r.failed} clients failed: ${opened.flatMap((o) => o.errors).slice(0, 3).join("; ")}`);
    progress.log(
      `connect storm: ${si(r.established)} clients in ${r.durationMs} ms = ${si(r.connectionsPerSec)} connections/s (JWT, connect + subscribe), ` +
        `connect-to-reply p50 ${r.connectMs.p50.toFixed(1)} ms p99 ${r.connectMs.p99.toFixed(1)} ms, gateway CPU ${r.serverCpuPercent}% (${r.cpuMsPerConnection} ms a connection), nats-server ${r.natsCpuPercent}%, clients ${r.clientCpuPercent}%`,
    );
  } catch (err) {
    r.error = `connect storm: ${String(err)}`;
    progress.log(r.error);
  } finally {
    progress.status("connect storm: closing");
    await Promise.all(workers.map((w) => w.closeAll().catch(() => 0)));
    await gateway?.[Symbol.asyncDispose]();
    await notifier?.[Symbol.asyncDispose]();
  }
  return [r];
}
