import type { ServiceProcess } from "@rt/testkit";
import { RawHttp } from "../client/http.ts";
import { wallNow, type OpenGroup, type ReconnectPlan } from "../client/messages.ts";
import { split, type Ctx } from "../lib/plan.ts";
import type { ClientWorker } from "../lib/pool.ts";
import { CpuMeter } from "../lib/proc.ts";
import { distribution, si } from "../lib/stats.ts";
import { startGateways, startNotifier, type Target } from "../lib/targets.ts";
import type { ReconnectStormResult } from "../report/types.ts";
import { sessionsOf, tokensFor } from "./connect.ts";

const HOST = "127.0.0.1";
const PATH = "/connection/websocket";
/** Reconnect attempts per client before it gives up (a refused upgrade, an error reply, no reply in 10 s). */
const MAX_ATTEMPTS = 20;
/** Give up waiting for the last publications after this long without progress. */
const STALL_MS = 3000;

/**
 * Publishes into one room at a fixed rate through the notifier's server API (`POST /api/publish`,
 * one request at a time on one keep-alive connection, catching up when late): every answer
 * carries the publication's offset, so the publisher's position is known at any moment.
 */
class RoomPublisher {
  /** The highest offset acknowledged. */
  last = 0;
  published = 0;
  errors = 0;
  /** Acknowledged offsets that did not follow the one before (another publication in the ROOMS stream meanwhile). */
  jumps = 0;
  firstError: string | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly http: RawHttp, private readonly channel: string) {}

  async publishOne(): Promise<void> {
    const body = JSON.stringify({ channel: this.channel, data: { n: this.published++ } });
    try {
      const res = await this.http.post("/api/publish", body);
      const offset = (JSON.parse(res.body) as { result?: { offset?: unknown } }).result?.offset;
      if (res.status !== 200 || typeof offset !== "number") throw new Error(`HTTP ${res.status} ${res.body.slice(0, 200)}`);
      if (this.last > 0 && offset !== this.last + 1) this.jumps++;
      this.last = Math.max(this.last, offset);
    } catch (err) {
      this.errors++;
      this.firstError ??= String(err);
    }
  }

  start(ratePerSec: number): void {
    const t0 = performance.now();
    this.loop = (async () => {
      for (let done = 0; !this.stopped; await Bun.sleep(1)) {
        const due = Math.floor(((performance.now() - t0) * ratePerSec) / 1000);
        while (done < due && !this.stopped) {
          await this.publishOne();
          done++;
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

/**
 * Reconnect storm: two gateways; `clients` protocol clients (each its own user and JWT) subscribed
 * to one `chat:` room with history on gateway A, `onOther` on B, while the notifier's API publishes
 * `ratePerSec` into the room. Every client reads the offsets of the pushes it gets. Then A is
 * stopped (SIGKILL: its sockets cut; SIGTERM: a graceful stop closing them with 3001); each client
 * of A, once its socket closes, waits a random 0 to `jitterMs` (as the SDKs' backoff does) and
 * connects to B with `subscribe {recover: true, offset: <last seen>, epoch}`. A client counts as
 * recovered when that reply said `recovered: true` and it has every offset up to the publisher's
 * position when the signal was sent. Measured: signal to the last client recovered. Publishing
 * goes on for `afterMs` after that; then every client (those on B too) must have every offset
 * from its first subscribe to the last published, none twice.
 */
export async function runReconnect(ctx: Ctx): Promise<ReconnectStormResult[]> {
  const { progress } = ctx;
  const p = ctx.plan.reconnect;
  const out: ReconnectStormResult[] = [];
  let notifier: ServiceProcess | undefined;
  let http: RawHttp | undefined;
  try {
    progress.status("reconnect storm: starting the notifier");
    notifier = await startNotifier(ctx.nats.url);
    http = await RawHttp.connect(notifier.http);
    progress.status(`reconnect storm: signing ${si(p.clients + p.onOther)} tokens`);
    const tokens = await tokensFor("reconnect", p.clients + p.onOther);
    for (const signal of p.signals) out.push(await oneRound(ctx, signal, http, tokens));
  } catch (err) {
    out.push({ ...empty(ctx, p.signals[0] ?? "SIGKILL"), error: `reconnect storm: ${String(err)}` });
    progress.log(`reconnect storm: ${String(err)}`);
  } finally {
    http?.close();
    await notifier?.[Symbol.asyncDispose]();
  }
  return out;
}

/** One round, with gateways of its own: a round's leftovers (a B still busy with the last storm) never weigh on the next. */
async function oneRound(ctx: Ctx, signal: "SIGKILL" | "SIGTERM", http: RawHttp, tokens: string[]): Promise<ReconnectStormResult> {
  const { progress } = ctx;
  const p = ctx.plan.reconnect;
  const what = `reconnect storm (${signal})`;
  const r = empty(ctx, signal);
  const room = `reconnect-${signal.toLowerCase()}-${Date.now().toString(36)}`;
  const channel = `chat:${room}`;
  const workers = ctx.pool.take(p.workers);
  let a: Target | undefined;
  let b: Target | undefined;
  const publisher = new RoomPublisher(http, channel);
  // Both gateways get the same history limits (each updates the ROOMS stream at start).
  const env = { ROOM_HISTORY_SIZE: String(p.historySize), PING_INTERVAL_SEC: "3600" };
  try {
    progress.status(`${what}: starting gateways A and B`);
    const started = await Promise.allSettled([startGateways(1, ctx.nats.url, env), startGateways(1, ctx.nats.url, env)]);
    [a, b] = started.map((x) => (x.status === "fulfilled" ? x.value : undefined));
    const failedStart = started.find((x): x is PromiseRejectedResult => x.status === "rejected");
    if (failedStart || !a || !b) throw failedStart?.reason ?? new Error("a gateway did not start");
    // One publication first: a fresh subscribe's position is then the room's own offset, and every later one follows on it
    // (nothing else publishes into the ROOMS stream meanwhile: checked by the publisher's acknowledged offsets).
    await publisher.publishOne();
    if (publisher.errors > 0) throw new Error(`the notifier's API did not publish: ${publisher.firstError}`);

    await ctx.pool.reset(workers.length);
    const handshake = `{"id":1,"connect":{"token":"$TOKEN"}}\n{"id":2,"subscribe":{"channel":"${channel}"}}`;
    const groups: OpenGroup[][] = workers.map(() => []);
    let at = 0;
    split(p.clients, workers.length).forEach((count, i) => {
      groups[i]!.push({ host: HOST, port: a!.ports[0]!, path: PATH, count, handshake, tokens: tokens.slice(at, (at += count)) });
    });
    groups[workers.length - 1]!.push({ host: HOST, port: b.ports[0]!, path: PATH, count: p.onOther, handshake, tokens: tokens.slice(at, at + p.onOther) });
    const opening = Promise.all(workers.map((w, i) => w.open(groups[i]!.filter((g) => g.count > 0), "track", 128)));
    const opened = await progress.watch(opening, async () => `${what}: ${si((await sessionsOf(workers)).ready)} of ${si(p.clients + p.onOther)} subscribed`);
    const failed = opened.reduce((s, o) => s + o.failed, 0);
    if (failed > 0) throw new Error(`${failed} clients failed to subscribe: ${opened.flatMap((o) => o.errors).slice(0, 3).join("; ")}`);

    publisher.start(p.ratePerSec);
    await progress.watch(Bun.sleep(p.beforeMs), async () => `${what}: publishing, offset ${publisher.last}`);

    // The plan first (each client's reconnect and the position it must reach), then the signal.
    const plan: ReconnectPlan = { host: HOST, port: b.ports[0]!, path: PATH, channel, jitterMs: p.jitterMs, target: publisher.last, maxAttempts: MAX_ATTEMPTS };
    await Promise.all(workers.map((w) => w.request({ op: "reconnect", plan })));
    r.killOffset = plan.target;
    const cpuB = new CpuMeter(b.pids);
    const cpuNats = new CpuMeter(ctx.nats.pid === undefined ? [] : [ctx.nats.pid]);
    const killAt = wallNow();
    process.kill(a.pids[0]!, signal);

    const deadline = performance.now() + p.timeoutMs;
    const recovering = (async () => {
      for (;;) {
        const s = await sessionsOf(workers);
        if (s.recovered >= p.clients || performance.now() > deadline) return;
        await Bun.sleep(20);
      }
    })();
    await progress.watch(recovering, async () => {
      const s = await sessionsOf(workers);
      return `${what}: ${si(s.recovered)} of ${si(p.clients)} recovered, ${s.reconnects} reconnects, ${((wallNow() - killAt) / 1000).toFixed(1)} s`;
    });
    const recoveredWall = wallNow() - killAt;
    r.serverCpuPercent = Math.round(cpuB.percent(recoveredWall));
    r.natsCpuPercent = Math.round(cpuNats.percent(recoveredWall));

    // Publishing goes on a little, then every client must have everything up to the last offset.
    await progress.watch(Bun.sleep(p.afterMs), async () => `${what}: publishing after the recovery, offset ${publisher.last}`);
    await publisher.stop();
    r.finalOffset = publisher.last;
    let s = await sessionsOf(workers, { upTo: r.finalOffset });
    for (let last = s.short, since = performance.now(); s.short > 0 && performance.now() - since < STALL_MS; ) {
      await Bun.sleep(20);
      s = await sessionsOf(workers, { upTo: r.finalOffset });
      if (s.short !== last) [last, since] = [s.short, performance.now()];
    }
    s = await sessionsOf(workers, { upTo: r.finalOffset, times: true });
    const times = (s.recoveredAt ?? []).map((t) => t - killAt);
    r.recovered = s.recovered;
    r.notRecovered = s.notRecovered;
    r.recoveryMs = distribution(times);
    r.allRecoveredMs = s.recovered >= p.clients ? Math.round(Math.max(...times)) : null;
    r.reconnects = s.reconnects;
    r.failures = s.failures;
    r.gaps = s.missing;
    r.behind = s.short;
    r.missing = s.missing + s.short;
    r.duplicates = s.duplicates;
    r.closeCodes = (await ctx.pool.stats(workers.length)).closeCodes;
    r.publishErrors = publisher.errors;
    r.lost = r.missing + publisher.errors;
    if (publisher.jumps > 0) r.error = `${what}: the room's offsets were not contiguous (${publisher.jumps} jumps: another publisher in the ROOMS stream?), gaps cannot be told from losses`;
    else if (publisher.errors > 0) r.error = `${what}: ${publisher.errors} publishes failed: ${publisher.firstError}`;
    progress.log(
      `${what}: ${r.recovered} of ${p.clients} recovered` +
        (r.allRecoveredMs === null ? ` (not all within ${p.timeoutMs / 1000} s)` : ` in ${(r.allRecoveredMs / 1000).toFixed(2)} s`) +
        ` (p50 ${r.recoveryMs.p50.toFixed(0)} ms, p99 ${r.recoveryMs.p99.toFixed(0)} ms; ${r.reconnects} reconnects, jitter 0-${p.jitterMs} ms), ` +
        `offset ${r.killOffset} at the signal, ${r.finalOffset} at the end, missing ${r.missing} (gaps ${r.gaps}, behind at the end ${r.behind}), duplicates ${r.duplicates}, not recovered ${r.notRecovered}, gateway B CPU ${r.serverCpuPercent}%, nats-server ${r.natsCpuPercent}%` +
        (Object.keys(r.failures).length ? `, failures ${JSON.stringify(r.failures)}` : ""),
    );
  } catch (err) {
    r.error = `${what}: ${String(err)}`;
    progress.log(r.error);
  } finally {
    await publisher.stop();
    progress.status(`${what}: closing`);
    await Promise.all(workers.map((w: ClientWorker) => w.closeAll().catch(() => 0)));
    await Promise.all([a?.[Symbol.asyncDispose](), b?.[Symbol.asyncDispose]()]);
  }
  return r;
}

function empty(ctx: Ctx, signal: "SIGKILL" | "SIGTERM"): ReconnectStormResult {
  const p = ctx.plan.reconnect;
  return {
    signal, clients: p.clients, onOther: p.onOther, ratePerSec: p.ratePerSec, jitterMs: p.jitterMs, historySize: p.historySize, killOffset: 0, finalOffset: 0,
    recovered: 0, notRecovered: 0, allRecoveredMs: null, recoveryMs: distribution([]), reconnects: 0, closeCodes: {}, failures: {}, missing: 0, gaps: 0, behind: 0, duplicates: 0,
    publishErrors: 0, serverCpuPercent: 0, natsCpuPercent: 0, lost: 0,
  };
}
