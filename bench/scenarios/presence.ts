import { split, type Ctx } from "../lib/plan.ts";
import { SOCKETS_PER_WORKER } from "../lib/pool.ts";
import { CpuMeter } from "../lib/proc.ts";
import { distribution, round, si } from "../lib/stats.ts";
import { startGateways, type Target } from "../lib/targets.ts";
import type { PresenceResult } from "../report/types.ts";

const HOST = "127.0.0.1";
const ROOM = "bench-presence";

/** A client protocol connection made by hand: one command at a time, its reply frame timed. */
class Asker {
  private waiting: ((frame: string) => void) | undefined;
  private constructor(private readonly ws: WebSocket) {
    ws.addEventListener("message", (e) => {
      const w = this.waiting;
      this.waiting = undefined;
      w?.(String(e.data));
    });
  }

  static async open(port: number): Promise<Asker> {
    const ws = new WebSocket(`ws://${HOST}:${port}/connection/websocket`);
    await new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve, { once: true });
      ws.addEventListener("error", reject, { once: true });
    });
    return new Asker(ws);
  }

  /** Sends one command; the reply frame and how long it took. */
  ask(command: object): Promise<{ frame: string; ms: number }> {
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${JSON.stringify(command)}`)), 10_000);
      this.waiting = (frame) => {
        clearTimeout(timer);
        resolve({ frame, ms: performance.now() - t0 });
      };
      this.ws.send(JSON.stringify(command));
    });
  }

  close(): void {
    this.ws.close();
  }
}

/**
 * What a presence call costs: one room of N `/chat/` sockets spread over the gateways, and one
 * protocol client on the first gateway subscribed to it, calling `presence` (every member listed:
 * the other gateways asked over NATS, the answers merged) and `presence_stats`, one call at a time.
 * Reported: reply time, reply size, and the CPU all gateways spent per call.
 */
export async function runPresence(ctx: Ctx): Promise<PresenceResult[]> {
  const { plan, progress } = ctx;
  const { members, gateways, calls } = plan.presence;
  // At least one worker per gateway, each holding its share of the members.
  const workers = ctx.pool.take(gateways * Math.ceil(members / gateways / SOCKETS_PER_WORKER));
  const r: PresenceResult = { members, gateways, calls, listMs: distribution([]), statsMs: distribution([]), listReplyBytes: 0, statsReplyBytes: 0, listCpuMs: 0, statsCpuMs: 0, lost: 0 };
  let server: Target | undefined;
  let asker: Asker | undefined;
  try {
    progress.status("presence: starting gateways");
    server = await startGateways(gateways, ctx.nats.url, { ALLOW_ANONYMOUS: "1", RATE_LIMIT_PER_SEC: "0", PING_INTERVAL_SEC: "3600" });
    const ports = server.ports;
    const perGateway = split(members - 1, ports.length);
    const perWorker = split(workers.length, ports.length);
    // Each gateway's share of the members, spread over the workers.
    const opening: Promise<{ failed: number; errors: string[] }>[] = [];
    let w = 0;
    ports.forEach((port, g) => {
      const counts = split(perGateway[g]!, perWorker[g]!);
      for (const count of counts) opening.push(workers[w++]!.open([{ host: HOST, port, path: `/chat/${ROOM}`, count }]));
    });
    const opened = await progress.watch(Promise.all(opening), async () => `presence: ${si((await ctx.pool.stats(workers.length)).open)} of ${si(members - 1)} members open`);
    const failed = opened.reduce((a, o) => a + o.failed, 0);
    if (failed > 0) throw new Error(`${failed} members failed to open: ${opened.flatMap((o) => o.errors).slice(0, 3).join("; ")}`);

    asker = await Asker.open(ports[0]!);
    await asker.ask({ id: 1, connect: {} });
    await asker.ask({ id: 2, subscribe: { channel: `chat:${ROOM}` } });
    // Every gateway knows the others (heartbeats) and every member is counted before measuring.
    let id = 3;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { frame } = await asker.ask({ id: id++, presence_stats: { channel: `chat:${ROOM}` } });
      const n = (JSON.parse(frame) as { presence_stats?: { num_clients: number } }).presence_stats?.num_clients ?? 0;
      if (n === members) break;
      if (Date.now() > deadline) throw new Error(`presence_stats counts ${n} of ${members} members`);
      await Bun.sleep(200);
    }

    const measure = async (kind: "presence" | "presence_stats") => {
      const times: number[] = [];
      let bytes = 0;
      const cpu = new CpuMeter(server!.pids);
      for (let k = 0; k < calls; k++) {
        const { frame, ms } = await asker!.ask({ id: id++, [kind]: { channel: `chat:${ROOM}` } });
        const reply = JSON.parse(frame) as { presence?: { presence: Record<string, unknown> }; presence_stats?: { num_clients: number }; error?: unknown };
        const n = kind === "presence" ? Object.keys(reply.presence?.presence ?? {}).length : (reply.presence_stats?.num_clients ?? 0);
        if (n !== members) r.lost += Math.max(0, members - n);
        times.push(ms);
        bytes = frame.length;
      }
      return { dist: distribution(times), bytes, cpuMs: (cpu.seconds() * 1000) / calls };
    };
    progress.status("presence: presence calls");
    const list = await measure("presence");
    progress.status("presence: presence_stats calls");
    const stats = await measure("presence_stats");
    Object.assign(r, { listMs: list.dist, listReplyBytes: list.bytes, listCpuMs: round(list.cpuMs, 2), statsMs: stats.dist, statsReplyBytes: stats.bytes, statsCpuMs: round(stats.cpuMs, 2) });
    progress.log(
      `presence ${si(members)} members on ${gateways} gateways: presence p50 ${list.dist.p50.toFixed(1)} ms p99 ${list.dist.p99.toFixed(1)} ms (${si(list.bytes)} B, ${list.cpuMs.toFixed(1)} CPU-ms); ` +
        `presence_stats p50 ${stats.dist.p50.toFixed(1)} ms p99 ${stats.dist.p99.toFixed(1)} ms (${stats.cpuMs.toFixed(1)} CPU-ms)` + (r.lost ? `, MISSING ${r.lost}` : ""),
    );
  } catch (err) {
    r.error = String(err);
    progress.log(`presence: ${r.error}`);
  } finally {
    asker?.close();
    await Promise.all(workers.map((w) => w.closeAll().catch(() => 0)));
    await server?.[Symbol.asyncDispose]();
  }
  return [r];
}
