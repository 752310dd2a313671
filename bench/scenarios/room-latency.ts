import type { RateLane } from "../client/messages.ts";
import type { Ctx } from "../lib/plan.ts";
import { CpuMeter } from "../lib/proc.ts";
import { layoutRooms } from "../lib/rooms-layout.ts";
import { distribution, si } from "../lib/stats.ts";
import { startFloor, startGateways, type Target, type TargetName } from "../lib/targets.ts";
import type { RoomLatencyResult } from "../report/types.ts";
import { drain, speech } from "./fanout.ts";

const HOST = "127.0.0.1";
/** Client processes the rooms are dealt to; each sends half the rate. */
const WORKERS = 2;
const PROCESSES = 2;

/** A room's publish frame around its seq and send time: its data is `{"seq":N,"body":"<wall-clock ms>"}`, which the probes read as a timed message. */
function rateLane(name: TargetName, room: string, sender: number): RateLane {
  const [before, after] = speech(name, room).wrap;
  return { senders: [sender], before: `${before}{"seq":`, middle: `,"body":"`, after: `"}${after}` };
}

/**
 * Publish-to-delivery latency under load: `rooms` rooms of `members` (1,000 of 10 in the full
 * run), each spread over two server processes with its sender alternating between them, and
 * publications sent open loop at a fixed rate over all rooms (round-robin), each carrying its
 * wall-clock send time; one member of each room on each process is a probe that times every
 * delivery (the others only count). Through the gateway (two processes, the client protocol,
 * `chat:` with history) and, as the floor in the same run, the JetStream floor (two processes:
 * every message stored in a stream and fanned out from its republished copy; not in --quick).
 */
export async function runRoomLatency(ctx: Ctx): Promise<RoomLatencyResult[]> {
  const { nats } = ctx;
  // Every room is created by anonymous clients of one address (127.0.0.1): with the default allowance
  // (CHANNEL_CREATE_BURST 60 per address and gateway) most of 1,000 rooms were refused (111) and their messages counted lost.
  const env = { RATE_LIMIT_PER_SEC: "0", ALLOW_ANONYMOUS: "1", PING_INTERVAL_SEC: "3600", CHANNEL_CREATE_RATE_PER_MIN: "0" };
  const arms: { name: TargetName; start: () => Promise<Target> }[] = [{ name: "gateway-protocol", start: () => startGateways(PROCESSES, nats.url, env, "gateway-protocol") }];
  if (ctx.plan.roomLatency.floor) arms.push({ name: "jetstream-floor", start: () => startFloor("jetstream-floor", nats.url, PROCESSES) });
  const out: RoomLatencyResult[] = [];
  for (const [i, arm] of arms.entries()) out.push(...(await oneArm(ctx, arm.name, arm.start, `lat${i}`)));
  return out;
}

async function oneArm(ctx: Ctx, name: TargetName, start: () => Promise<Target>, prefix: string): Promise<RoomLatencyResult[]> {
  const { progress } = ctx;
  const p = ctx.plan.roomLatency;
  const what = `room latency ${name}x${PROCESSES} ${si(p.rooms)}x${p.members}`;
  const results: RoomLatencyResult[] = [];
  const blank = (rate: number): RoomLatencyResult => ({
    target: name, rooms: p.rooms, members: p.members, processes: PROCESSES, ratePerSec: rate, durationMs: p.durationMs, sent: 0, lateSends: 0,
    expected: 0, delivered: 0, lost: 0, duplicates: 0, probesPerRoom: PROCESSES, latencyMs: distribution([]), serverCpuPercent: 0, natsCpuPercent: 0,
  });
  const workers = ctx.pool.take(WORKERS);
  const natsPid = ctx.nats.pid;
  let target: Target | undefined;
  try {
    progress.status(`${what}: starting`);
    target = await start();
    const layout = layoutRooms({ prefix, rooms: p.rooms, members: p.members, ports: target.ports, workers: WORKERS, host: HOST, speech: (room) => speech(name, room), probes: true });
    const mode = speech(name, "x").mode;
    const opened = await progress.watch(
      Promise.all(workers.map(async (w, i) => [await w.open(layout.members[i]!, mode), await w.open(layout.probes[i]!, "notify")] as const)),
      async () => `${what}: ${si((await ctx.pool.stats(WORKERS)).open)} of ${si(p.rooms * p.members)} open`,
    );
    const failed = opened.flat().reduce((a, o) => a + o.failed, 0);
    if (failed > 0) throw new Error(`${failed} of ${p.rooms * p.members} sockets failed to open: ${opened.flat().flatMap((o) => o.errors).slice(0, 3).join("; ")}`);
    const lanes: RateLane[][] = workers.map(() => []);
    for (const room of layout.rooms) lanes[room.worker]!.push(rateLane(name, room.name, opened[room.worker]![0].first + room.sender));
    await Bun.sleep(300); // NATS interest across the processes in place
    const run = async (rate: number, durationMs: number): Promise<RoomLatencyResult> => {
      await ctx.pool.reset(WORKERS);
      const cpu = new CpuMeter(target!.pids);
      const natsCpu = new CpuMeter(natsPid === undefined ? [] : [natsPid]);
      const t0 = performance.now();
      const sending = Promise.all(workers.map((w, i) => w.rate({ lanes: lanes[i]!, ratePerSec: rate / WORKERS, durationMs })));
      const sent = await progress.watch(sending, async () => `${what} ${rate}/s: ${si((await ctx.pool.stats(WORKERS)).frames)} delivered`);
      const r = blank(rate);
      r.sent = sent.reduce((a, x) => a + x.sent, 0);
      r.lateSends = sent.reduce((a, x) => a + x.late, 0);
      r.expected = r.sent * p.members;
      await drain({ stats: () => ctx.pool.stats(WORKERS) }, r.expected);
      const ms = performance.now() - t0;
      r.serverCpuPercent = Math.round(cpu.percent(ms));
      r.natsCpuPercent = Math.round(natsCpu.percent(ms));
      const s = await ctx.pool.stats(WORKERS, true);
      r.delivered = s.frames;
      r.lost = Math.max(0, r.expected - s.frames);
      r.duplicates = s.duplicates;
      r.latencyMs = distribution(s.latencies ?? []);
      return r;
    };
    await run(Math.min(1000, p.rates[0] ?? 1000), 500); // warm-up, not reported
    for (const rate of p.rates) {
      const r = await run(rate, p.durationMs);
      results.push(r);
      const d = r.latencyMs;
      progress.log(
        `${what} ${rate}/s: p50 ${d.p50.toFixed(2)} ms, p99 ${d.p99.toFixed(2)} ms, max ${d.max.toFixed(2)} ms over ${d.count} timed deliveries; server CPU ${r.serverCpuPercent}%, nats-server ${r.natsCpuPercent}%` +
          (r.lost > 0 ? `, LOST ${r.lost}` : "") + (r.lateSends > 0 ? `, ${r.lateSends} sends late` : ""),
      );
    }
  } catch (err) {
    const r = results.length ? results[results.length - 1]! : blank(p.rates[0] ?? 0);
    if (!results.length) results.push(r);
    r.error = `${what}: ${String(err)}`;
    progress.log(r.error);
  } finally {
    progress.status(`${what}: closing`);
    await Promise.all(workers.map((w) => w.closeAll().catch(() => 0)));
    await target?.[Symbol.asyncDispose]();
  }
  return results;
}
