import { metricsSubject } from "@rt/protocol";
import { natsAs } from "@rt/testkit";
import { wallNow } from "../client/messages.ts";
import { NatsPublisher } from "../lib/nats-pub.ts";
import { split, type Ctx } from "../lib/plan.ts";
import { SOCKETS_PER_WORKER } from "../lib/pool.ts";
import { percentile, round, si } from "../lib/stats.ts";
import { startGateways, startRawBun, type Target } from "../lib/targets.ts";
import type { MonitorResult } from "../report/types.ts";
import { drain } from "./fanout.ts";

const HOST = "127.0.0.1";

/** A valid metrics sample (what the metrics service publishes). */
function sample(host: string): string {
  return JSON.stringify({ timestamp: new Date().toISOString(), cpu_load: 0.5, memory_usage: 42.5, host });
}

/**
 * Monitor fan-out: N `/system-monitor` sockets on one gateway; samples published straight on
 * the NATS subject of a made-up host; for each, the time from publish until the last socket has it.
 * For scale, the same N sockets as one room of the raw Bun baseline, where one member sends one
 * message (one `server.publish` to N sockets, no NATS): the time until the last member has it.
 */
export async function runMonitor(ctx: Ctx): Promise<MonitorResult[]> {
  const { plan, progress } = ctx;
  const n = plan.monitor.sockets;
  const workers = ctx.pool.take(Math.ceil(n / SOCKETS_PER_WORKER));
  const r: MonitorResult = { sockets: n, samples: 0, expected: 0, delivered: 0, lost: 0, lastMs: [], firstMs: [], p50LastMs: 0, maxLastMs: 0, rawBunLastMs: [], rawBunP50LastMs: 0 };
  let server: Target | undefined;
  let nats: NatsPublisher | undefined;
  const all = {
    stats: () => ctx.pool.stats(workers.length),
  };
  try {
    progress.status("monitor: starting gateway");
    server = await startGateways(1, ctx.nats.url);
    const port = server.ports[0]!;
    const counts = split(n, workers.length);
    const opening = Promise.all(workers.map((w, i) => w.open([{ host: HOST, port, path: "/system-monitor", count: counts[i]! }])));
    const opened = await progress.watch(opening, async () => `monitor: ${si((await all.stats()).open)} of ${si(n)} sockets open`);
    const failed = opened.reduce((a, o) => a + o.failed, 0);
    if (failed > 0) throw new Error(`${failed} of ${n} monitor sockets failed to open: ${opened.flatMap((o) => o.errors).slice(0, 3).join("; ")}`);
    nats = await NatsPublisher.connect(ctx.nats.port, natsAs("metrics")); // as the metrics service: its samples are all it may publish
    const host = `bench-${process.pid}`;
    const subject = metricsSubject(host);
    for (let k = 0; k < plan.monitor.samples; k++) {
      await ctx.pool.reset(workers.length);
      const t0 = wallNow();
      nats.publish(subject, sample(host));
      await nats.flush();
      const s = await progress.watch(drain(all, n), async () => `monitor sample ${k + 1}/${plan.monitor.samples}: ${(await all.stats()).frames} of ${n}`);
      r.samples++;
      r.expected += n;
      r.delivered += Math.min(n, s.frames);
      if (s.frames > n) progress.log(`monitor sample ${k + 1}: ${s.frames - n} extra frames`);
      if (s.frames > 0) {
        r.lastMs.push(round(s.lastAt - t0, 3));
        r.firstMs.push(round(s.firstAt - t0, 3));
      }
      await Bun.sleep(100);
    }
    nats.close();
    nats = undefined;
    await Promise.all(workers.map((w) => w.closeAll()));
    await server[Symbol.asyncDispose]();
    server = undefined;
    r.lost = r.expected - r.delivered;
    const sorted = [...r.lastMs].sort((a, b) => a - b);
    r.p50LastMs = percentile(sorted, 50);
    r.maxLastMs = sorted[sorted.length - 1] ?? NaN;
    progress.log(`monitor ${si(n)} sockets: last socket after p50 ${r.p50LastMs.toFixed(2)} ms, max ${r.maxLastMs.toFixed(2)} ms` + (r.lost > 0 ? `, LOST ${r.lost}` : ""));

    // The same fan-out on raw Bun, for scale.
    progress.status("monitor: raw Bun baseline");
    server = await startRawBun();
    const rawPort = server.ports[0]!;
    const rawOpened = await Promise.all(workers.map((w, i) => w.open([{ host: HOST, port: rawPort, path: "/chat/monitor", count: counts[i]! }])));
    if (rawOpened.some((o) => o.failed > 0)) throw new Error("raw Bun baseline sockets failed to open");
    for (let k = 0; k < plan.monitor.samples; k++) {
      await ctx.pool.reset(workers.length);
      // One message from socket 0 of worker 0 (window 1, stop right after): one server.publish to n sockets.
      const p = await workers[0]!.pump({ lanes: [{ senders: [0], paces: [0], payload: sample(host).slice(0, 100) }], window: 1, durationMs: 1 });
      const s = await drain(all, n * p.sent);
      r.expected += n * p.sent;
      r.delivered += Math.min(n * p.sent, s.frames);
      if (s.frames > 0) r.rawBunLastMs.push(round(s.lastAt - p.startAt, 3));
      await Bun.sleep(100);
    }
    r.lost = r.expected - r.delivered;
    r.rawBunP50LastMs = percentile([...r.rawBunLastMs].sort((a, b) => a - b), 50);
    progress.log(`monitor baseline, raw Bun room of ${si(n)}: last socket after p50 ${r.rawBunP50LastMs.toFixed(2)} ms`);
  } catch (err) {
    r.error = String(err);
    progress.log(`monitor: ${r.error}`);
  } finally {
    nats?.close();
    await Promise.all(workers.map((w) => w.closeAll().catch(() => 0)));
    await server?.[Symbol.asyncDispose]();
  }
  return [r];
}
