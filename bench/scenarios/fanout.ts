import type { OpenGroup, ReadMode, WorkerStats } from "../client/messages.ts";
import { WINDOW, split, type Ctx } from "../lib/plan.ts";
import type { ClientWorker } from "../lib/pool.ts";
import { CpuMeter } from "../lib/proc.ts";
import { si } from "../lib/stats.ts";
import { NO_HISTORY_NAMESPACE, noHistoryChannelsFile, startFloor, startGateways, startGoPeer, startNodeWs, startRawBun, startSocketIo, type Target, type TargetName } from "../lib/targets.ts";
import type { FanoutResult, FanoutRound } from "../report/types.ts";

const HOST = "127.0.0.1";
/** Give up waiting for the last deliveries after this long without progress. */
const STALL_MS = 3000;

/** One target at one room size, with its own client worker. */
interface Arm {
  name: TargetName;
  /** Each arm its own room: every server shares one nats-server, so a shared name would leak traffic between arms. */
  room: string;
  processes: number;
  start: () => Promise<Target>;
  target?: Target;
  worker: ClientWorker;
  senders: number[];
  paces: number[];
  /** The text frame its senders send. */
  frame: string;
  result: FanoutResult;
}

/**
 * Room fan-out, and scale-out: one room of `members` sockets; a few members send as fast as
 * a window of in-flight messages allows; every member counts what it receives. Measured
 * against the gateway (`/chat/` in one process and in two sharing the room over NATS; the
 * client protocol, `chat:` with history, and with --no-history `live:` without), raw Bun,
 * Node + ws, Socket.IO (two processes sharing the room over Redis), the Go centrifuge library,
 * and the NATS-hop and JetStream floors, at the sizes lib/plan.ts gives each, in interleaved
 * rounds so a noisy neighbour hurts each target alike.
 */
export async function runFanout(ctx: Ctx): Promise<FanoutResult[]> {
  const results: FanoutResult[] = [];
  for (const members of ctx.plan.fanout.members) results.push(...(await oneSize(ctx, members)));
  return results;
}

async function oneSize(ctx: Ctx, members: number): Promise<FanoutResult[]> {
  const { plan, progress, nats } = ctx;
  const f = plan.fanout;
  const payload = "x".repeat(f.payloadBytes);
  const gatewayEnv = { RATE_LIMIT_PER_SEC: "0" };
  // The client protocol arms: anonymous connections, and no ping in a measured round (the cheap client does not answer them).
  const protocolEnv = { ...gatewayEnv, ALLOW_ANONYMOUS: "1", PING_INTERVAL_SEC: "3600" };
  const kinds: { name: TargetName; processes: number; start: () => Promise<Target> }[] = [];
  if (f.legacy.includes(members)) kinds.push({ name: "gateway", processes: 1, start: () => startGateways(1, nats.url, gatewayEnv) });
  kinds.push({ name: "raw-bun", processes: 1, start: startRawBun });
  if (f.legacy.includes(members)) kinds.push({ name: "node-ws", processes: 1, start: () => startNodeWs(nats.url) });
  if (f.scaleOut.includes(members)) kinds.push({ name: "gateway", processes: 2, start: () => startGateways(2, nats.url, gatewayEnv) });
  if (f.protocol.includes(members)) kinds.push({ name: "gateway-protocol", processes: 1, start: () => startGateways(1, nats.url, protocolEnv, "gateway-protocol") });
  if (f.protocol.includes(members) && ctx.noHistory) {
    kinds.push({ name: "gateway-nohistory", processes: 1, start: () => startGateways(1, nats.url, { ...protocolEnv, CHANNELS_FILE: noHistoryChannelsFile() }, "gateway-nohistory") });
  }
  if (f.floors.includes(members)) {
    kinds.push({ name: "nats-floor", processes: 1, start: () => startFloor("nats-floor", nats.url) });
    kinds.push({ name: "jetstream-floor", processes: 1, start: () => startFloor("jetstream-floor", nats.url) });
  }
  if (plan.goPeer && f.peer.includes(members)) kinds.push({ name: "centrifuge-go", processes: 1, start: startGoPeer });
  if (f.checked.includes(members)) kinds.push({ name: "socketio", processes: 2, start: () => startSocketIo(2) });
  const workers = ctx.pool.take(kinds.length);
  const arms: Arm[] = kinds.map((k, i) => ({
    ...k,
    room: `fanout-${members}-${i}`,
    worker: workers[i]!,
    senders: [],
    paces: [],
    frame: "",
    result: {
      target: k.name,
      members,
      processes: k.processes,
      senders: f.senders,
      window: WINDOW,
      payloadBytes: f.payloadBytes,
      rounds: [],
      deliveriesPerSec: 0,
      framesPerSec: 0,
      medianDeliveriesPerSec: 0,
      deliveriesPerCpuSec: 0,
      serverCpuPercent: 0,
      warmupLost: 0,
      lost: 0,
    },
  }));
  try {
    for (const arm of arms) {
      try {
        await prepare(ctx, arm, members, payload);
      } catch (err) {
        const why = String(err);
        // A gateway without the namespace: it refuses the CHANNELS_FILE (exit 2), or has no `live:` channels (error 102).
        if (arm.name === "gateway-nohistory" && /exited 2|error 102/.test(why)) arm.result.skipped = `not supported by this gateway (${/exited 2/.test(why) ? "it refused the CHANNELS_FILE" : "no `live:` channels: error 102"})`;
        else arm.result.error = why;
        progress.log(`fan-out ${label(arm)}: ${arm.result.skipped ?? why}`);
      }
    }
    for (let round = 1; round <= f.rounds; round++) {
      for (const arm of arms) {
        if (arm.result.error || arm.result.skipped) continue;
        try {
          const r = await measure(ctx, arm, members, f.durationMs, `round ${round}/${f.rounds}`);
          arm.result.rounds.push(r);
          progress.log(
            `fan-out ${label(arm)} round ${round}: ${si(r.deliveriesPerSec)} deliveries/s, server CPU ${r.serverCpuPercent.toFixed(0)}%, nats-server ${r.natsCpuPercent ?? 0}%` +
              (r.lost > 0 ? `, LOST ${r.lost}` : ""),
          );
        } catch (err) {
          arm.result.error = String(err);
          progress.log(`fan-out ${label(arm)}: ${arm.result.error}`);
        }
      }
    }
  } finally {
    await Promise.all(arms.map((a) => a.worker.closeAll().catch(() => 0)));
    await Promise.all(arms.map((a) => a.target?.[Symbol.asyncDispose]()));
  }
  for (const arm of arms) summarise(arm.result);
  return arms.map((a) => a.result);
}

function label(arm: Arm): string {
  return `${arm.name}${arm.processes > 1 ? `x${arm.processes}` : ""} ${si(arm.result.members)}`;
}

/** How a target's members join a room and what its senders send. */
export interface Speech {
  path: string;
  /** Sent after the upgrade (connect and subscribe), and how frames count. */
  client: Partial<OpenGroup>;
  /** Protocol arms open in `protocol` read mode: a member counts as open once its subscribe reply arrived without error. */
  mode: ReadMode;
  /** The text frame a sender sends with `payload`. */
  frame: (payload: string) => string;
  /** A publish frame's text before and after its data (a JSON value); empty for targets that relay the frame as it is. */
  wrap: [string, string];
}

/** What a member of `room` on target `name` says. */
export function speech(name: TargetName, room: string): Speech {
  switch (name) {
    case "gateway-protocol":
    case "gateway-nohistory": {
      // Connect (anonymously: ALLOW_ANONYMOUS) and subscribe as the first frame. A publish without a command id has no reply: only the publication comes back.
      const channel = `${name === "gateway-protocol" ? "chat" : NO_HISTORY_NAMESPACE}:${room}`;
      const wrap: [string, string] = [`{"publish":{"channel":${JSON.stringify(channel)},"data":`, "}}"];
      return {
        path: "/connection/websocket",
        client: { handshake: `{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"${channel}"}}`, countLines: true },
        mode: "protocol",
        frame: (payload) => `${wrap[0]}${JSON.stringify({ x: payload })}${wrap[1]}`,
        wrap,
      };
    }
    case "centrifuge-go": {
      // JSON protocol v1: methods 0 connect, 1 subscribe, 3 publish. The library wants an id on every publish and answers it; only pushes count.
      const channel = `chat:${room}`;
      const wrap: [string, string] = [`{"id":3,"method":3,"params":{"channel":${JSON.stringify(channel)},"data":`, "}}"];
      return {
        path: "/connection/websocket",
        client: { handshake: `{"id":1,"method":0,"params":{}}\n{"id":2,"method":1,"params":{"channel":"${channel}"}}`, v1: true },
        mode: "protocol",
        frame: (payload) => `${wrap[0]}${JSON.stringify({ x: payload })}${wrap[1]}`,
        wrap,
      };
    }
    case "socketio":
      // Members join their room with `?room=` at connect (bench/baselines/socketio-redis/server.mjs); they count only events (`42...`) and answer pings.
      // A sender emits `msg` (no ack): an event packet, `42["msg",<data>]`.
      return { path: `/socket.io/?EIO=4&transport=websocket&room=${room}`, client: { engineIo: true }, mode: "count", frame: (payload) => `42${JSON.stringify(["msg", payload])}`, wrap: ['42["msg",', "]"] };
    default:
      return { path: `/chat/${room}`, client: {}, mode: "count", frame: (payload) => payload, wrap: ["", ""] };
  }
}

/** Starts the target, opens the room's members (senders first), and warms up. */
async function prepare(ctx: Ctx, arm: Arm, members: number, payload: string): Promise<void> {
  const { progress } = ctx;
  progress.status(`fan-out ${label(arm)}: starting ${arm.name}`);
  arm.target = await arm.start();
  const ports = arm.target.ports;
  const say = speech(arm.name, arm.room);
  arm.frame = say.frame(payload);
  // Senders spread over the processes; the first sender on each process paces the window.
  const sendersPer = split(ctx.plan.fanout.senders, ports.length);
  const membersPer = split(members, ports.length);
  const groups: OpenGroup[] = [];
  let index = 0;
  ports.forEach((port, p) => {
    groups.push({ host: HOST, port, path: say.path, count: sendersPer[p]!, ...say.client });
    arm.paces.push(index);
    for (let k = 0; k < sendersPer[p]!; k++) arm.senders.push(index++);
  });
  ports.forEach((port, p) => groups.push({ host: HOST, port, path: say.path, count: membersPer[p]! - sendersPer[p]!, ...say.client }));
  const opening = arm.worker.open(groups.filter((g) => g.count > 0), say.mode);
  const r = await progress.watch(opening, async () => `fan-out ${label(arm)}: ${(await arm.worker.stats()).open} sockets open`);
  if (r.failed > 0) throw new Error(`${r.failed} of ${members} sockets failed to open: ${r.errors.join("; ")}`);
  // Let cross-gateway NATS interest settle, then warm the JIT up (not counted).
  await Bun.sleep(300);
  const warm = await measure(ctx, arm, members, ctx.plan.fanout.warmupMs, "warm-up");
  arm.result.warmupLost = warm.lost;
  if (warm.lost > 0) ctx.progress.log(`fan-out ${label(arm)} warm-up: LOST ${warm.lost} of ${warm.expected}`);
}

async function measure(ctx: Ctx, arm: Arm, members: number, durationMs: number, phase: string): Promise<FanoutRound> {
  const window = arm.result.window;
  const w = arm.worker;
  await w.reset();
  const cpu = new CpuMeter(arm.target!.pids);
  const natsCpu = new CpuMeter(ctx.nats.pid === undefined ? [] : [ctx.nats.pid]);
  const clientCpu = new CpuMeter([w.pid]);
  const t0 = performance.now();
  const poll = async () => {
    const s = await w.stats();
    const secs = (performance.now() - t0) / 1000;
    return `fan-out ${label(arm)} ${phase}: ${si(s.frames)} deliveries, ${si(s.frames / secs)}/s`;
  };
  const pump = await ctx.progress.watch(w.pump({ lanes: [{ senders: arm.senders, paces: arm.paces, payload: arm.frame }], window, durationMs }), poll);
  const expected = pump.sent * members;
  const s = await ctx.progress.watch(drain(w, expected), poll);
  const ms = Math.max(1, s.lastAt - pump.startAt);
  return {
    sent: pump.sent,
    expected,
    delivered: s.frames,
    lost: Math.max(0, expected - s.frames),
    durationMs: Math.round(ms),
    deliveriesPerSec: Math.round((s.frames * 1000) / ms),
    framesPerSec: Math.round((s.wsFrames * 1000) / ms),
    serverCpuPercent: Math.round(cpu.percent(ms)),
    natsCpuPercent: Math.round(natsCpu.percent(ms)),
    clientCpuPercent: Math.round(clientCpu.percent(ms)),
    unexpectedCloses: s.unexpectedCloses,
    closeCodes: s.closeCodes,
    stalled: pump.stalled,
  };
}

/** Waits until `expected` frames arrived, or nothing arrived for STALL_MS. */
export async function drain(w: { stats(): Promise<WorkerStats> }, expected: number): Promise<WorkerStats> {
  let s = await w.stats();
  let last = s.frames;
  let since = performance.now();
  while (s.frames < expected) {
    await Bun.sleep(20);
    s = await w.stats();
    if (s.frames !== last) {
      last = s.frames;
      since = performance.now();
    } else if (performance.now() - since > STALL_MS) break;
  }
  return s;
}

function summarise(r: FanoutResult): void {
  r.lost = r.warmupLost + r.rounds.reduce((a, x) => a + x.lost, 0);
  if (r.rounds.length === 0) return;
  const best = r.rounds.reduce((a, b) => (b.deliveriesPerSec > a.deliveriesPerSec ? b : a));
  const rates = r.rounds.map((x) => x.deliveriesPerSec).sort((a, b) => a - b);
  r.deliveriesPerSec = best.deliveriesPerSec;
  r.framesPerSec = best.framesPerSec;
  r.medianDeliveriesPerSec = rates[Math.floor((rates.length - 1) / 2)]!;
  r.serverCpuPercent = best.serverCpuPercent;
  r.natsCpuPercent = best.natsCpuPercent;
  r.deliveriesPerCpuSec = best.serverCpuPercent > 0 ? Math.round((best.deliveriesPerSec * 100) / best.serverCpuPercent) : 0;
}
