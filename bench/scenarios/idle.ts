import type { OpenGroup } from "../client/messages.ts";
import type { Ctx } from "../lib/plan.ts";
import { workersFor } from "../lib/pool.ts";
import { CpuMeter, rssOf } from "../lib/proc.ts";
import { si } from "../lib/stats.ts";
import { startGateways, startGoPeer, startNodeWs, startRawBun, type Target, type TargetName } from "../lib/targets.ts";
import type { IdleResult } from "../report/types.ts";

const HOST = "127.0.0.1";
/** Idle sockets sit in rooms of this many members (many small rooms, as in real use). */
const ROOM_SIZE = 100;

/**
 * Idle sockets: open N room sockets spread over client processes and server processes, let
 * them sit, and divide the servers' VmRSS growth by N. Each target runs alone. The client
 * protocol arm opens `/connection/websocket` connections, each connected and subscribed to its
 * room's `chat:` channel.
 */
export async function runIdle(ctx: Ctx): Promise<IdleResult[]> {
  const results: IdleResult[] = [];
  for (const c of ctx.plan.idle.cases) {
    const arms: { name: TargetName; processes: number; start: () => Promise<Target> }[] = [
      { name: "gateway", processes: c.gateways, start: () => startGateways(c.gateways, ctx.nats.url) },
    ];
    if (c.baselines) {
      // Client protocol connections, each subscribed to one `chat:` channel (anonymous: no inbox subscription; pinged by Bun only).
      arms.push({ name: "gateway-protocol", processes: c.gateways, start: () => startGateways(c.gateways, ctx.nats.url, { ALLOW_ANONYMOUS: "1", PING_INTERVAL_SEC: "3600" }, "gateway-protocol") });
      arms.push({ name: "raw-bun", processes: 1, start: startRawBun });
      arms.push({ name: "node-ws", processes: 1, start: () => startNodeWs(ctx.nats.url) });
      // The Go peer: connected (anonymously) and subscribed to its room's `chat:` channel, as the client protocol arm.
      if (ctx.plan.goPeer) arms.push({ name: "centrifuge-go", processes: 1, start: startGoPeer });
    }
    const workers = workersFor(c.sockets, c.workers);
    for (const arm of arms) results.push(await oneCase(ctx, arm.name, arm.processes, arm.start, c.sockets, workers));
  }
  return results;
}

async function oneCase(ctx: Ctx, name: TargetName, processes: number, start: () => Promise<Target>, sockets: number, workerCount: number): Promise<IdleResult> {
  const { progress } = ctx;
  const what = `idle ${name}${processes > 1 ? `x${processes}` : ""} ${si(sockets)}`;
  const r: IdleResult = {
    target: name,
    sockets,
    processes,
    clientWorkers: workerCount,
    opened: 0,
    failed: 0,
    rssBeforeBytes: 0,
    rssMidBytes: 0,
    rssAfterBytes: 0,
    kbPerSocket: 0,
    marginalKbPerSocket: 0,
    idleCpuPercent: 0,
    unexpectedCloses: 0,
    lost: 0,
  };
  const workers = ctx.pool.take(workerCount);
  let target: Target | undefined;
  try {
    progress.status(`${what}: starting`);
    target = await start();
    const pids = target.pids;
    await Bun.sleep(500);
    r.rssBeforeBytes = rssOf(pids);
    // Rooms of ROOM_SIZE, dealt round-robin to server processes and client workers; opened in two
    // halves so the second half gives the marginal cost too (free of start-up allocations).
    const halves: OpenGroup[][][] = [workers.map(() => []), workers.map(() => [])];
    for (let room = 0, left = sockets; left > 0; room++) {
      const count = Math.min(ROOM_SIZE, left);
      const half = sockets - left < sockets / 2 ? 0 : 1;
      left -= count;
      const port = target.ports[room % target.ports.length]!;
      halves[half]![room % workers.length]!.push(
        name === "gateway-protocol"
          ? { host: HOST, port, path: "/connection/websocket", count, handshake: `{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"chat:idle-${room}"}}` }
          : name === "centrifuge-go"
            ? { host: HOST, port, path: "/connection/websocket", count, handshake: `{"id":1,"method":0,"params":{}}\n{"id":2,"method":1,"params":{"channel":"chat:idle-${room}"}}`, v1: true }
            : { host: HOST, port, path: `/chat/idle-${room}`, count },
      );
    }
    const t0 = performance.now();
    const show = async () => {
      const s = await ctx.pool.stats(workerCount);
      return `${what}: ${si(s.open)} open, ${si(s.open / ((performance.now() - t0) / 1000))}/s, server RSS ${(rssOf(pids) / 2 ** 20).toFixed(0)} MiB`;
    };
    let midSockets = 0;
    for (const [h, groups] of halves.entries()) {
      const opened = await progress.watch(Promise.all(workers.map((w, i) => w.open(groups[i]!, "count", 64))), show);
      r.opened += opened.reduce((a, o) => a + o.opened, 0);
      r.failed += opened.reduce((a, o) => a + o.failed, 0);
      if (r.failed > 0) throw new Error(`${r.failed} of ${sockets} sockets failed to open: ${opened.flatMap((o) => o.errors).slice(0, 3).join("; ")}`);
      if (h === 0) {
        await Bun.sleep(ctx.plan.idle.settleMs / 2);
        midSockets = r.opened;
        r.rssMidBytes = rssOf(pids);
      }
    }
    await ctx.pool.reset(workerCount);
    const cpu = new CpuMeter(pids);
    const settle = Bun.sleep(ctx.plan.idle.settleMs);
    await progress.watch(settle, async () => `${what}: settling, server RSS ${(rssOf(pids) / 2 ** 20).toFixed(0)} MiB`);
    r.idleCpuPercent = Math.round(cpu.percent() * 10) / 10;
    r.rssAfterBytes = rssOf(pids);
    const s = await ctx.pool.stats(workerCount);
    r.unexpectedCloses = s.unexpectedCloses;
    if (s.open !== sockets) progress.log(`${what}: only ${s.open} of ${sockets} sockets still open (close codes ${JSON.stringify(s.closeCodes)})`);
    r.kbPerSocket = Math.round(((r.rssAfterBytes - r.rssBeforeBytes) / sockets / 1024) * 100) / 100;
    r.marginalKbPerSocket = Math.round(((r.rssAfterBytes - r.rssMidBytes) / (sockets - midSockets) / 1024) * 100) / 100;
    progress.log(
      `${what}: ${r.kbPerSocket} KB per socket (RSS ${(r.rssBeforeBytes / 2 ** 20).toFixed(0)} -> ${(r.rssAfterBytes / 2 ** 20).toFixed(0)} MiB; ` +
        `second half ${r.marginalKbPerSocket} KB), idle CPU ${r.idleCpuPercent}%`,
    );
  } catch (err) {
    r.error = String(err);
    progress.log(`${what}: ${r.error}`);
  } finally {
    progress.status(`${what}: closing`);
    await Promise.all(workers.map((w) => w.closeAll().catch(() => 0)));
    await target?.[Symbol.asyncDispose]();
  }
  return r;
}
