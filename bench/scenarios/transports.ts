import { join } from "node:path";
import type { Subprocess } from "bun";
import type { StreamTransport } from "../client/streams.ts";
import type { Ctx } from "../lib/plan.ts";
import { CpuMeter, rssOf } from "../lib/proc.ts";
import { si } from "../lib/stats.ts";
import { startGateways, type Target } from "../lib/targets.ts";
import type { TransportFanoutResult, TransportIdleResult, TransportsResult } from "../report/transports.ts";

const HOST = "127.0.0.1";
/** Give up waiting for the last deliveries after this long without progress. */
const STALL_MS = 3000;
/** Publications in flight (sent, not yet back at the publisher). */
const WINDOW = 256;
/** Idle connections sit in rooms of this many members, as in bench/scenarios/idle.ts. */
const ROOM_SIZE = 100;

/** Sizes: the full run, and --quick (CI). */
const SIZES = {
  full: { subscribers: 1000, rounds: 3, durationMs: 3000, warmupMs: 1000, idle: 5000, settleMs: 10_000 },
  // --quick keeps the run in CI's budget: the fan-out only, small; idle memory is in the full run only
  // (at 1,000 connections a fresh gateway's first-connection allocations would be most of the figure).
  quick: { subscribers: 200, rounds: 1, durationMs: 1000, warmupMs: 300, idle: 0, settleMs: 0 },
};

/** A client process of bench/client/streams.ts, driven line by line. */
export class StreamClients implements AsyncDisposable {
  private readonly proc: Subprocess<"pipe", "pipe", "inherit">;
  private readonly lines: string[] = [];
  private waiting: ((line: string) => void) | undefined;
  /** Commands go one at a time: each answer is the next line. */
  private chain: Promise<unknown> = Promise.resolve();
  private constructor() {
    this.proc = Bun.spawn(["bun", join(import.meta.dir, "..", "client", "streams.ts")], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
      // Bun's fetch keeps at most 256 requests in flight unless told otherwise.
      env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: "65535" },
    });
    void this.read();
  }
  static start(): StreamClients {
    return new StreamClients();
  }
  get pid(): number {
    return this.proc.pid;
  }
  private async read(): Promise<void> {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of this.proc.stdout) {
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const w = this.waiting;
        this.waiting = undefined;
        if (w) w(line);
        else this.lines.push(line);
      }
    }
    this.waiting?.('{"op":"exited"}');
  }
  /** Sends one command and waits for its answer (one at a time). */
  ask<T>(cmd: object): Promise<T> {
    const next = this.chain.then(() => this.askNow<T>(cmd));
    this.chain = next.catch(() => undefined);
    return next;
  }
  private async askNow<T>(cmd: object): Promise<T> {
    const answer = new Promise<string>((resolve) => {
      const queued = this.lines.shift();
      if (queued !== undefined) resolve(queued);
      else this.waiting = resolve;
    });
    this.proc.stdin.write(`${JSON.stringify(cmd)}\n`);
    this.proc.stdin.flush();
    const line = await answer;
    const o = JSON.parse(line) as T & { op: string };
    if (o.op === "exited") throw new Error("the stream client process exited");
    return o;
  }
  stats(): Promise<{ deliveries: number; lastAt: number; open: number; ended: number }> {
    return this.ask({ op: "stats" });
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.race([this.ask({ op: "close" }).catch(() => undefined), Bun.sleep(3000)]);
    this.proc.kill();
    await this.proc.exited;
  }
}

/** A WebSocket publisher on the client protocol, subscribed to its own room to pace a window of publications. */
export class Publisher {
  private ws!: WebSocket;
  private back = 0;
  private wake: (() => void) | undefined;
  static async open(port: number, channel: string): Promise<Publisher> {
    const p = new Publisher();
    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(`ws://${HOST}:${port}/connection/websocket`);
      p.ws = ws;
      let subscribed = false;
      ws.onopen = () => ws.send(`{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":${JSON.stringify(channel)}}}`);
      ws.onmessage = (e) => {
        const text = e.data as string;
        if (!subscribed) {
          if (text.includes(`{"id":2`)) {
            if (text.includes(`"error"`)) return reject(new Error(`publisher: ${text}`));
            subscribed = true;
            resolve();
          }
          return;
        }
        let n = 1;
        for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) n++;
        p.back += n;
        p.wake?.();
      };
      ws.onclose = (e) => reject(new Error(`publisher closed ${e.code}`));
    });
    return p;
  }
  /** Publishes `frame` (a publish command without id) for `durationMs` with at most WINDOW in flight; resolves with the count sent. */
  async pump(frame: string, durationMs: number): Promise<number> {
    this.back = 0;
    let sent = 0;
    const end = performance.now() + durationMs;
    while (performance.now() < end) {
      while (sent - this.back < WINDOW && performance.now() < end) {
        this.ws.send(frame);
        sent++;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    return sent;
  }
  close(): void {
    this.ws.close();
  }
}

/**
 * Transports beside WebSocket (`--only=transports`): one `chat:` room's fan-out to subscribers
 * over WebSocket, HTTP-streaming (JSON, newline-delimited) and SSE, the same publisher load
 * (one WebSocket publisher, a window of 256) on one gateway, in interleaved rounds; and gateway
 * memory per idle connection over each transport (uni_sse too), one fresh gateway per transport
 * (the full run only: `--quick` measures the fan-out alone, at 200 subscribers).
 * The stream members subscribe through `POST /emulation` with their connect result's session and
 * node, as the SDK does, so the publications reach them through the same channel fan-out as
 * WebSocket members. The clients are raw (bench/client/streams.ts), in one process per arm.
 */
export async function runTransports(ctx: Ctx): Promise<TransportsResult[]> {
  const r: TransportsResult = { fanout: [], idle: [], lost: 0 };
  const size = ctx.quick ? SIZES.quick : SIZES.full;
  try {
    r.fanout = await fanout(ctx, size);
    if (size.idle > 0) for (const t of ["ws", "http_stream", "sse", "uni_sse"] as const) r.idle.push(await idle(ctx, t, size.idle, size.settleMs));
  } catch (err) {
    r.error = `transports: ${String(err)}`;
    ctx.progress.log(r.error);
  }
  r.lost = r.fanout.reduce((a, x) => a + x.lost, 0);
  return [r];
}

/** The gateways of this scenario: anonymous connections, no pings in a measured round (the raw clients never answer them), no rate limit. */
export const ENV = { ALLOW_ANONYMOUS: "1", PING_INTERVAL_SEC: "3600", RATE_LIMIT_PER_SEC: "0", MAX_CONNECTIONS: "1000000" };

async function fanout(ctx: Ctx, size: typeof SIZES.full): Promise<TransportFanoutResult[]> {
  const { progress } = ctx;
  const transports = ["ws", "http_stream", "sse"] as const;
  const payload = JSON.stringify({ x: "x".repeat(32) });
  let target: Target | undefined;
  const arms = transports.map((transport) => ({
    transport,
    channel: `chat:transports-${transport}`,
    clients: undefined as StreamClients | undefined,
    publisher: undefined as Publisher | undefined,
    result: { transport, subscribers: size.subscribers, payloadBytes: 32, rounds: [], deliveriesPerSec: 0, medianDeliveriesPerSec: 0, serverCpuPercent: 0, deliveriesPerCpuSec: 0, ratioToWs: 0, cpuRatioToWs: 0, lost: 0 } as TransportFanoutResult,
  }));
  try {
    progress.status("transports fan-out: starting a gateway");
    target = await startGateways(1, ctx.nats.url, ENV, "gateway-protocol");
    const port = target.ports[0]!;
    for (const arm of arms) {
      try {
        progress.status(`transports fan-out ${arm.transport}: opening ${size.subscribers} subscribers`);
        arm.clients = StreamClients.start();
        const o = await arm.clients.ask<{ opened: number; failed: number; errors: string[] }>({
          op: "open",
          transport: arm.transport,
          base: `http://${HOST}:${port}`,
          channels: Array.from({ length: size.subscribers }, () => arm.channel),
          concurrency: 64,
        });
        if (o.failed > 0) throw new Error(`${o.failed} of ${size.subscribers} failed to open: ${o.errors.join("; ")}`);
        arm.publisher = await Publisher.open(port, arm.channel);
        const frame = `{"publish":{"channel":${JSON.stringify(arm.channel)},"data":${payload}}}`;
        const warm = await round(ctx, arm.transport, target, arm.clients, arm.publisher, frame, size.subscribers, size.warmupMs, "warm-up");
        arm.result.lost += Math.max(0, warm.expected - warm.delivered);
        if (warm.delivered > warm.expected) throw new Error(`counted ${warm.delivered} deliveries of ${warm.expected} sent: the client miscounts`);
      } catch (err) {
        arm.result.error = `transports fan-out ${arm.transport}: ${String(err)}`;
        progress.log(arm.result.error);
      }
    }
    for (let n = 1; n <= size.rounds; n++) {
      for (const arm of arms) {
        if (arm.result.error) continue;
        try {
          const frame = `{"publish":{"channel":${JSON.stringify(arm.channel)},"data":${payload}}}`;
          const x = await round(ctx, arm.transport, target, arm.clients!, arm.publisher!, frame, size.subscribers, size.durationMs, `round ${n}/${size.rounds}`);
          arm.result.rounds.push(x);
          arm.result.lost += Math.max(0, x.expected - x.delivered);
          if (x.delivered > x.expected) throw new Error(`counted ${x.delivered} deliveries of ${x.expected} sent: the client miscounts`);
          progress.log(`transports fan-out ${arm.transport} ${size.subscribers} round ${n}: ${si(x.deliveriesPerSec)} deliveries/s, gateway CPU ${x.serverCpuPercent}%${x.expected > x.delivered ? `, LOST ${x.expected - x.delivered}` : ""}`);
        } catch (err) {
          arm.result.error = `transports fan-out ${arm.transport}: ${String(err)}`;
          progress.log(arm.result.error);
        }
      }
    }
  } finally {
    for (const arm of arms) {
      arm.publisher?.close();
      await arm.clients?.[Symbol.asyncDispose]();
    }
    await target?.[Symbol.asyncDispose]();
  }
  for (const arm of arms) {
    const x = arm.result;
    if (!x.rounds.length) continue;
    const best = x.rounds.reduce((a, b) => (b.deliveriesPerSec > a.deliveriesPerSec ? b : a));
    x.deliveriesPerSec = best.deliveriesPerSec;
    x.serverCpuPercent = best.serverCpuPercent;
    // Over every measured round: a round's CPU is a few dozen clock ticks on a busy machine, too coarse alone.
    const cpuSec = x.rounds.reduce((a, b) => a + b.serverCpuSeconds, 0);
    x.deliveriesPerCpuSec = cpuSec > 0 ? Math.round(x.rounds.reduce((a, b) => a + b.delivered, 0) / cpuSec) : 0;
    const rates = x.rounds.map((b) => b.deliveriesPerSec).sort((a, b) => a - b);
    x.medianDeliveriesPerSec = rates[Math.floor((rates.length - 1) / 2)]!;
  }
  const ws = arms[0]!.result;
  for (const arm of arms) {
    arm.result.ratioToWs = ws.deliveriesPerSec > 0 ? Math.round((arm.result.deliveriesPerSec / ws.deliveriesPerSec) * 100) / 100 : 0;
    arm.result.cpuRatioToWs = ws.deliveriesPerCpuSec > 0 ? Math.round((arm.result.deliveriesPerCpuSec / ws.deliveriesPerCpuSec) * 100) / 100 : 0;
  }
  return arms.map((a) => a.result);
}

async function round(ctx: Ctx, transport: StreamTransport, target: Target, clients: StreamClients, publisher: Publisher, frame: string, subscribers: number, durationMs: number, phase: string) {
  await clients.ask({ op: "reset" });
  const cpu = new CpuMeter(target.pids);
  const clientCpu = new CpuMeter([clients.pid]);
  const start = Date.now();
  const t0 = performance.now();
  const poll = async () => `transports fan-out ${transport} ${phase}: ${si((await clients.stats()).deliveries)} deliveries`;
  const sent = await ctx.progress.watch(publisher.pump(frame, durationMs), poll);
  const expected = sent * subscribers;
  // Wait for every delivery, or until nothing arrived for STALL_MS.
  let s = await clients.stats();
  let last = s.deliveries;
  let since = performance.now();
  while (s.deliveries < expected) {
    await Bun.sleep(20);
    s = await clients.stats();
    if (s.deliveries !== last) {
      last = s.deliveries;
      since = performance.now();
    } else if (performance.now() - since > STALL_MS) break;
  }
  const ms = Math.max(1, (s.lastAt || Date.now()) - start);
  const wall = performance.now() - t0;
  return {
    sent,
    expected,
    delivered: s.deliveries,
    durationMs: ms,
    deliveriesPerSec: Math.round((s.deliveries * 1000) / ms),
    serverCpuPercent: Math.round(cpu.percent(wall)),
    serverCpuSeconds: Math.round(cpu.seconds() * 100) / 100,
    clientCpuPercent: Math.round(clientCpu.percent(wall)),
  };
}

async function idle(ctx: Ctx, transport: StreamTransport, connections: number, settleMs: number): Promise<TransportIdleResult> {
  const { progress } = ctx;
  const what = `transports idle ${transport} ${si(connections)}`;
  const r: TransportIdleResult = { transport, connections, opened: 0, rssBeforeBytes: 0, rssAfterBytes: 0, kbPerConnection: 0, idleCpuPercent: 0, ended: 0, lost: 0 };
  let target: Target | undefined;
  let clients: StreamClients | undefined;
  try {
    progress.status(`${what}: starting a gateway`);
    target = await startGateways(1, ctx.nats.url, ENV, "gateway-protocol");
    await Bun.sleep(500);
    r.rssBeforeBytes = rssOf(target.pids);
    clients = StreamClients.start();
    const channels = Array.from({ length: connections }, (_, i) => `chat:idle-${transport}-${Math.floor(i / ROOM_SIZE)}`);
    const pids = target.pids;
    const opening = clients.ask<{ opened: number; failed: number; errors: string[] }>({ op: "open", transport, base: `http://${HOST}:${target.ports[0]}`, channels, concurrency: 64 });
    const o = await progress.watch(opening, async () => `${what}: opening, gateway RSS ${(rssOf(pids) / 2 ** 20).toFixed(0)} MiB`);
    r.opened = o.opened;
    if (o.failed > 0) throw new Error(`${o.failed} of ${connections} failed to open: ${o.errors.join("; ")}`);
    const cpu = new CpuMeter(pids);
    await progress.watch(Bun.sleep(settleMs), async () => `${what}: settling, gateway RSS ${(rssOf(pids) / 2 ** 20).toFixed(0)} MiB`);
    r.idleCpuPercent = Math.round(cpu.percent() * 10) / 10;
    r.rssAfterBytes = rssOf(pids);
    r.ended = (await clients.stats()).ended;
    r.kbPerConnection = Math.round(((r.rssAfterBytes - r.rssBeforeBytes) / connections / 1024) * 100) / 100;
    progress.log(`${what}: ${r.kbPerConnection} KB per connection (RSS ${(r.rssBeforeBytes / 2 ** 20).toFixed(0)} -> ${(r.rssAfterBytes / 2 ** 20).toFixed(0)} MiB), idle CPU ${r.idleCpuPercent}%${r.ended ? `, ${r.ended} ended` : ""}`);
  } catch (err) {
    r.error = `${what}: ${String(err)}`;
    progress.log(r.error);
  } finally {
    progress.status(`${what}: closing`);
    await clients?.[Symbol.asyncDispose]();
    await target?.[Symbol.asyncDispose]();
  }
  return r;
}
