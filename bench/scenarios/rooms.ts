import type { PumpLane, WorkerStats } from "../client/messages.ts";
import { type Ctx } from "../lib/plan.ts";
import { sumStats } from "../lib/pool.ts";
import { CpuMeter, rssOf } from "../lib/proc.ts";
import { layoutRooms } from "../lib/rooms-layout.ts";
import { si } from "../lib/stats.ts";
import { startFloor, startGateways, startRawBun, type Target, type TargetName } from "../lib/targets.ts";
import type { FanoutRound, RoomsResult } from "../report/types.ts";
import { drain, speech } from "./fanout.ts";

const HOST = "127.0.0.1";
/** Client processes the rooms are dealt to (room k to process k mod 2). */
const WORKERS = 2;

/** nats-server's subscription count, from its monitoring endpoint (`/subsz`). */
export async function natsSubscriptions(monitor: string): Promise<number> {
  const r = await fetch(`${monitor}/subsz`);
  if (!r.ok) throw new Error(`nats-server ${monitor}/subsz answered ${r.status}`);
  const body = (await r.json()) as { num_subscriptions?: unknown };
  if (typeof body.num_subscriptions !== "number") throw new Error(`nats-server ${monitor}/subsz has no num_subscriptions`);
  return body.num_subscriptions;
}

/**
 * Many rooms at once: `rooms` rooms of `members` (1,000 of 10 in the full run), each spread over
 * two server processes (half its members on each, its one sender alternating between them),
 * every room active: each keeps `window` messages in flight, a message in flight until its sender
 * and its first member on the other process have it. Through the gateway (two processes, the
 * client protocol, `chat:` with history), raw Bun (one process: as many topics as rooms, no NATS)
 * and the two NATS floors (two processes each; not in --quick). Each target runs alone: besides deliveries a
 * second, what the active rooms cost: the servers' and nats-server's RSS growth per room (its
 * members' connections included) and nats-server's subscriptions per room (`/subsz`).
 */
export async function runRooms(ctx: Ctx): Promise<RoomsResult[]> {
  const { nats } = ctx;
  // Every room is created by anonymous clients of one address (127.0.0.1): with the default allowance
  // (CHANNEL_CREATE_BURST 60 per address and gateway) most of 1,000 rooms were refused (111) and their messages counted lost.
  const env = { RATE_LIMIT_PER_SEC: "0", ALLOW_ANONYMOUS: "1", PING_INTERVAL_SEC: "3600", CHANNEL_CREATE_RATE_PER_MIN: "0" };
  const arms: { name: TargetName; processes: number; start: () => Promise<Target> }[] = [
    { name: "gateway-protocol", processes: 2, start: () => startGateways(2, nats.url, env, "gateway-protocol") },
    { name: "raw-bun", processes: 1, start: startRawBun },
  ];
  if (ctx.plan.rooms.floors) {
    arms.push({ name: "nats-floor", processes: 2, start: () => startFloor("nats-floor", nats.url, 2) });
    arms.push({ name: "jetstream-floor", processes: 2, start: () => startFloor("jetstream-floor", nats.url, 2) });
  }
  const out: RoomsResult[] = [];
  for (const [i, arm] of arms.entries()) out.push(await oneArm(ctx, arm.name, arm.processes, arm.start, `rooms${i}`));
  return out;
}

async function oneArm(ctx: Ctx, name: TargetName, processes: number, start: () => Promise<Target>, prefix: string): Promise<RoomsResult> {
  const { progress } = ctx;
  const p = ctx.plan.rooms;
  const what = `rooms ${name}${processes > 1 ? `x${processes}` : ""} ${si(p.rooms)}x${p.members}`;
  const r: RoomsResult = {
    target: name, rooms: p.rooms, members: p.members, processes, window: p.window, rounds: [], deliveriesPerSec: 0, framesPerSec: 0, medianDeliveriesPerSec: 0,
    serverCpuPercent: 0, natsCpuPercent: 0, rssBeforeBytes: 0, rssAfterBytes: 0, kbPerRoom: 0, natsRssBeforeBytes: 0, natsRssAfterBytes: 0, natsKbPerRoom: 0,
    natsSubsBefore: 0, natsSubsAfter: 0, natsSubsPerRoom: 0, warmupLost: 0, lost: 0,
  };
  const workers = ctx.pool.take(WORKERS);
  const natsPid = ctx.nats.pid;
  let target: Target | undefined;
  try {
    progress.status(`${what}: starting`);
    target = await start();
    await Bun.sleep(500);
    r.rssBeforeBytes = rssOf(target.pids);
    r.natsRssBeforeBytes = natsPid === undefined ? 0 : rssOf([natsPid]);
    r.natsSubsBefore = await natsSubscriptions(ctx.natsMonitor);
    const payload = "x".repeat(ctx.plan.fanout.payloadBytes);
    const layout = layoutRooms({ prefix, rooms: p.rooms, members: p.members, ports: target.ports, workers: WORKERS, host: HOST, speech: (room) => speech(name, room), probes: false });
    const mode = speech(name, "x").mode;
    const t0 = performance.now();
    const opened = await progress.watch(Promise.all(workers.map((w, i) => w.open(layout.members[i]!, mode))), async () => {
      const s = await ctx.pool.stats(WORKERS);
      return `${what}: ${si(s.open)} of ${si(p.rooms * p.members)} open, ${si(s.open / ((performance.now() - t0) / 1000))}/s`;
    });
    const failed = opened.reduce((a, o) => a + o.failed, 0);
    if (failed > 0) throw new Error(`${failed} of ${p.rooms * p.members} sockets failed to open: ${opened.flatMap((o) => o.errors).slice(0, 3).join("; ")}`);
    // Lanes per client process: each room's publish frame, its sender and pace sockets (indices from that process's open).
    const lanes: PumpLane[][] = workers.map(() => []);
    for (const room of layout.rooms) {
      const base = opened[room.worker]!.first;
      lanes[room.worker]!.push({ senders: [base + room.sender], paces: room.paces.map((x) => base + x), payload: speech(name, room.name).frame(payload) });
    }
    await Bun.sleep(300); // NATS interest across the processes in place
    const round = async (durationMs: number, phase: string): Promise<FanoutRound> => {
      await ctx.pool.reset(WORKERS);
      const cpu = new CpuMeter(target!.pids);
      const natsCpu = new CpuMeter(natsPid === undefined ? [] : [natsPid]);
      const clientCpu = new CpuMeter(workers.map((w) => w.pid));
      const started = performance.now();
      const poll = async () => {
        const s = await ctx.pool.stats(WORKERS);
        return `${what} ${phase}: ${si(s.frames)} deliveries, ${si(s.frames / ((performance.now() - started) / 1000))}/s`;
      };
      const pumps = await progress.watch(Promise.all(workers.map((w, i) => w.pump({ lanes: lanes[i]!, window: p.window, durationMs }))), poll);
      const sent = pumps.reduce((a, x) => a + x.sent, 0);
      const expected = sent * p.members;
      const all = { stats: async (): Promise<WorkerStats> => sumStats(await Promise.all(workers.map((w) => w.stats()))) };
      const s = await progress.watch(drain(all, expected), poll);
      const ms = Math.max(1, s.lastAt - Math.min(...pumps.map((x) => x.startAt)));
      r.natsCpuPercent = Math.max(r.natsCpuPercent, Math.round(natsCpu.percent(ms)));
      return {
        sent, expected, delivered: s.frames, lost: Math.max(0, expected - s.frames), durationMs: Math.round(ms),
        deliveriesPerSec: Math.round((s.frames * 1000) / ms), framesPerSec: Math.round((s.wsFrames * 1000) / ms),
        serverCpuPercent: Math.round(cpu.percent(ms)), clientCpuPercent: Math.round(clientCpu.percent(ms)),
        unexpectedCloses: s.unexpectedCloses, closeCodes: s.closeCodes, stalled: pumps.some((x) => x.stalled),
      };
    };
    const warm = await round(p.warmupMs, "warm-up");
    r.warmupLost = warm.lost;
    r.natsCpuPercent = 0;
    for (let k = 1; k <= p.rounds; k++) {
      const x = await round(p.durationMs, `round ${k}/${p.rounds}`);
      r.rounds.push(x);
      progress.log(`${what} round ${k}: ${si(x.deliveriesPerSec)} deliveries/s, server CPU ${x.serverCpuPercent}%` + (x.lost > 0 ? `, LOST ${x.lost}` : ""));
    }
    // Memory and interest with every room open and active a moment ago.
    r.rssAfterBytes = rssOf(target.pids);
    r.natsRssAfterBytes = natsPid === undefined ? 0 : rssOf([natsPid]);
    r.natsSubsAfter = await natsSubscriptions(ctx.natsMonitor);
    r.kbPerRoom = Math.round(((r.rssAfterBytes - r.rssBeforeBytes) / p.rooms / 1024) * 100) / 100;
    r.natsKbPerRoom = Math.round(((r.natsRssAfterBytes - r.natsRssBeforeBytes) / p.rooms / 1024) * 100) / 100;
    r.natsSubsPerRoom = Math.round(((r.natsSubsAfter - r.natsSubsBefore) / p.rooms) * 100) / 100;
    progress.log(
      `${what}: RSS ${(r.kbPerRoom).toFixed(1)} KB per room (servers), nats-server ${r.natsKbPerRoom.toFixed(1)} KB per room, ` +
        `${r.natsSubsPerRoom} NATS subscriptions per room (${r.natsSubsBefore} -> ${r.natsSubsAfter})`,
    );
  } catch (err) {
    r.error = `${what}: ${String(err)}`;
    progress.log(r.error);
  } finally {
    progress.status(`${what}: closing`);
    await Promise.all(workers.map((w) => w.closeAll().catch(() => 0)));
    await target?.[Symbol.asyncDispose]();
  }
  r.lost = r.warmupLost + r.rounds.reduce((a, x) => a + x.lost, 0);
  if (r.rounds.length > 0) {
    const best = r.rounds.reduce((a, b) => (b.deliveriesPerSec > a.deliveriesPerSec ? b : a));
    const rates = r.rounds.map((x) => x.deliveriesPerSec).sort((a, b) => a - b);
    r.deliveriesPerSec = best.deliveriesPerSec;
    r.framesPerSec = best.framesPerSec;
    r.serverCpuPercent = best.serverCpuPercent;
    r.medianDeliveriesPerSec = rates[Math.floor((rates.length - 1) / 2)]!;
  }
  return r;
}
