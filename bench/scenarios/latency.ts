import type { ServiceProcess } from "@rt/testkit";
import { NATS_ADMIN, signToken } from "@rt/testkit";
import { hopSubject } from "../baselines/floor-subjects.ts";
import { wallNow, type OpenGroup } from "../client/messages.ts";
import type { Ctx } from "../lib/plan.ts";
import { distribution, si } from "../lib/stats.ts";
import { NatsPublisher } from "../lib/nats-pub.ts";
import type { ClientWorker } from "../lib/pool.ts";
import { startFloor, startGateways, startNotifier, type Target } from "../lib/targets.ts";
import type { LatencyResult } from "../report/types.ts";
import { drain } from "./fanout.ts";

const HOST = "127.0.0.1";
const GATEWAYS = 2;
/** Most POSTs waiting for an answer before the sender holds back. */
const MAX_IN_FLIGHT = 2000;

/**
 * Notification latency: POST /notifications to the notifier at a fixed rate (open loop), each
 * body carrying the wall-clock send time; every user has one socket on each of two gateways,
 * which record receive time minus send time.
 */
export async function runLatency(ctx: Ctx): Promise<LatencyResult[]> {
  const { plan, progress } = ctx;
  const results: LatencyResult[] = [];
  // One worker for the `/notifications` sockets, one for the client protocol connections: a latency distribution each.
  const [worker, protoWorker] = ctx.pool.take(2);
  let notifier: ServiceProcess | undefined;
  let gateways: Target | undefined;
  try {
    progress.status("latency: starting notifier and gateways");
    notifier = await startNotifier(ctx.nats.url);
    // The cheap client does not answer the client protocol's pings: one an hour, so none lands in a measured round.
    gateways = await startGateways(GATEWAYS, ctx.nats.url, { PING_INTERVAL_SEC: "3600" });
    const users = Array.from({ length: plan.latency.users }, (_, i) => `bench-user-${i}`);
    const tokens = await Promise.all(users.map((u) => signToken(u)));
    const groups: OpenGroup[] = [];
    for (const port of gateways.ports) for (const t of tokens) groups.push({ host: HOST, port, path: `/notifications?token=${t}`, count: 1 });
    const sockets = groups.length;
    const opened = await worker!.open(groups, "notify", 32);
    if (opened.failed > 0) throw new Error(`${opened.failed} of ${sockets} notification sockets failed to open: ${opened.errors.join("; ")}`);
    // Each user also has one client protocol connection (its inbox `#user` is subscribed at connect), on the second gateway.
    const proto: OpenGroup = { host: HOST, port: gateways.ports[1]!, path: "/connection/websocket", count: users.length, handshake: `{"id":1,"connect":{"token":"$TOKEN"}}`, tokens };
    const protoOpened = await protoWorker!.open([proto], "notify", 32);
    if (protoOpened.failed > 0) throw new Error(`${protoOpened.failed} of ${users.length} protocol connections failed to open: ${protoOpened.errors.join("; ")}`);
    await Bun.sleep(500); // their connect replies in before counting starts
    const url = `${notifier.http}/notifications`;

    // Warm-up: one notification per user, all delivered, so every socket is positioned and the path is hot.
    await worker!.reset();
    await protoWorker!.reset();
    const warm = await post(url, users, users.length, users.length * 20);
    const ws = await drain(worker!, warm.accepted * GATEWAYS);
    await drain(protoWorker!, warm.accepted);
    if (ws.frames < warm.accepted * GATEWAYS) progress.log(`latency warm-up: ${ws.frames} of ${warm.accepted * GATEWAYS} delivered`);

    for (const rate of plan.latency.rates) {
      const durationMs = plan.latency.durationMs;
      const total = Math.round((rate * durationMs) / 1000);
      await worker!.reset();
      await protoWorker!.reset();
      const t0 = performance.now();
      const sending = post(url, users, total, rate);
      const sent = await progress.watch(sending, async () => {
        const s = await worker!.stats();
        return `latency ${rate}/s: ${s.frames} of ${total * GATEWAYS} delivered, ${si(s.frames / ((performance.now() - t0) / 1000))}/s`;
      });
      for (const [via, w, perUser] of [["notifications", worker!, GATEWAYS], ["protocol", protoWorker!, 1]] as const) {
        const expected = sent.accepted * perUser;
        await drain(w, expected);
        const s = await w.stats(true);
        const r: LatencyResult = {
          via,
          ratePerSec: rate,
          durationMs,
          users: users.length,
          gateways: perUser,
          socketsPerUser: perUser,
          posted: sent.posted,
          accepted: sent.accepted,
          failedPosts: sent.failed,
          achievedRatePerSec: Math.round(sent.posted / (sent.sendMs / 1000)),
          expected,
          delivered: s.frames,
          lost: Math.max(0, expected - s.frames) + sent.failed * perUser,
          duplicates: s.duplicates,
          latencyMs: distribution(s.latencies ?? []),
          postMs: distribution(sent.postMs),
          afterAckMs: distribution(afterAck(s.ids ?? [], s.at ?? [], sent.acks)),
        };
        if (sent.firstError) r.error = `notifier: ${sent.firstError}`;
        results.push(r);
        const d = r.latencyMs;
        progress.log(
          `latency ${rate}/s to ${via === "protocol" ? "protocol clients" : "/notifications"}: p50 ${d.p50.toFixed(2)} ms, p99 ${d.p99.toFixed(2)} ms, max ${d.max.toFixed(2)} ms over ${d.count} deliveries` +
            (r.lost > 0 ? `, LOST ${r.lost}` : "") + (r.duplicates > 0 ? `, ${r.duplicates} duplicates` : "") + (sent.failed > 0 ? `, ${sent.failed} POSTs failed (${sent.firstError})` : ""),
        );
      }
    }
  } catch (err) {
    results.push({ ...empty(plan.latency.rates[0] ?? 0), error: String(err) });
    progress.log(`latency: ${String(err)}`);
  } finally {
    await worker!.closeAll().catch(() => 0);
    await protoWorker!.closeAll().catch(() => 0);
    await gateways?.[Symbol.asyncDispose]();
    await notifier?.[Symbol.asyncDispose]();
  }
  results.push(...(await floorLatency(ctx, worker!)));
  return results;
}

/**
 * The floor beside the notification latency, in the same run: a bare NATS publish to a user's
 * subject, a subscriber in raw Bun (the NATS-hop floor, two processes as the two gateways), and
 * a WebSocket write to the user's socket on each, at the same rates and for as many users. What
 * this machine gives at best for "a message arrives on NATS and goes out on a socket": no
 * store, no HTTP, no checks.
 */
async function floorLatency(ctx: Ctx, worker: ClientWorker): Promise<LatencyResult[]> {
  const { plan, progress } = ctx;
  const results: LatencyResult[] = [];
  let floor: Target | undefined;
  let pub: NatsPublisher | undefined;
  try {
    progress.status("latency floor: starting the NATS-hop floor");
    floor = await startFloor("nats-floor", ctx.nats.url, GATEWAYS);
    pub = await NatsPublisher.connect(ctx.nats.port, NATS_ADMIN);
    const rooms = Array.from({ length: plan.latency.users }, (_, i) => `lat-${i}`);
    const groups: OpenGroup[] = [];
    for (const port of floor.ports) for (const room of rooms) groups.push({ host: HOST, port, path: `/chat/${room}`, count: 1 });
    const opened = await worker.open(groups, "notify", 32);
    if (opened.failed > 0) throw new Error(`${opened.failed} of ${groups.length} floor sockets failed to open: ${opened.errors.join("; ")}`);
    await Bun.sleep(300); // the floor processes' NATS interest in place
    let seq = 0;
    const publish = async (total: number, rate: number): Promise<{ sent: number; sendMs: number }> => {
      const t0 = performance.now();
      let sent = 0;
      while (sent < total) {
        const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
        for (; sent < due; sent++) {
          seq++;
          pub!.publish(hopSubject(rooms[seq % rooms.length]!), JSON.stringify({ seq, body: String(wallNow()), id: `floor-${seq}` }));
        }
        await Bun.sleep(1);
      }
      const sendMs = Math.max(1, performance.now() - t0);
      await pub!.flush();
      return { sent, sendMs };
    };
    await worker.reset();
    const warm = await publish(rooms.length, rooms.length * 20);
    await drain(worker, warm.sent * GATEWAYS);
    for (const rate of plan.latency.rates) {
      const durationMs = plan.latency.durationMs;
      await worker.reset();
      const sent = await publish(Math.round((rate * durationMs) / 1000), rate);
      const expected = sent.sent * GATEWAYS;
      await drain(worker, expected);
      const s = await worker.stats(true);
      const d = distribution(s.latencies ?? []);
      const none = distribution([]);
      results.push({
        via: "nats-floor", ratePerSec: rate, durationMs, users: rooms.length, gateways: GATEWAYS, socketsPerUser: GATEWAYS, posted: sent.sent, accepted: sent.sent, failedPosts: 0,
        achievedRatePerSec: Math.round(sent.sent / (sent.sendMs / 1000)), expected, delivered: s.frames, lost: Math.max(0, expected - s.frames), duplicates: s.duplicates,
        latencyMs: d, postMs: none, afterAckMs: none,
      });
      progress.log(`latency floor ${rate}/s (NATS publish, raw Bun subscriber, WebSocket write): p50 ${d.p50.toFixed(2)} ms, p99 ${d.p99.toFixed(2)} ms, max ${d.max.toFixed(2)} ms over ${d.count} deliveries` + (expected > s.frames ? `, LOST ${expected - s.frames}` : ""));
    }
  } catch (err) {
    results.push({ ...empty(plan.latency.rates[0] ?? 0), via: "nats-floor", error: `latency floor: ${String(err)}` });
    progress.log(`latency floor: ${String(err)}`);
  } finally {
    pub?.close();
    await worker.closeAll().catch(() => 0);
    await floor?.[Symbol.asyncDispose]();
  }
  return results;
}

interface Sent {
  /** Wall-clock time each accepted notification's 202 arrived, by id. */
  acks: Map<string, number>;
  posted: number;
  accepted: number;
  failed: number;
  firstError?: string;
  sendMs: number;
  postMs: number[];
}

/** POSTs `total` notifications at `rate` per second, round-robin over `users`, each body the send time. */
async function post(url: string, users: string[], total: number, rate: number): Promise<Sent> {
  const out: Sent = { acks: new Map(), posted: 0, accepted: 0, failed: 0, sendMs: 0, postMs: [] };
  const inFlight = new Set<Promise<void>>();
  const t0 = performance.now();
  const one = (i: number): Promise<void> => {
    const sentAt = wallNow();
    const body = JSON.stringify({ user_id: users[i % users.length], body: String(sentAt) });
    return fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body })
      .then(async (res) => {
        const answer = await res.text();
        const ackAt = wallNow();
        out.postMs.push(ackAt - sentAt);
        if (res.status === 202) {
          out.accepted++;
          out.acks.set((JSON.parse(answer) as { id: string }).id, ackAt);
        } else {
          out.failed++;
          out.firstError ??= `HTTP ${res.status}`;
        }
      })
      .catch((err: unknown) => {
        out.failed++;
        out.firstError ??= String(err);
      });
  };
  while (out.posted < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
    while (out.posted < due && inFlight.size < MAX_IN_FLIGHT) {
      const p = one(out.posted++);
      inFlight.add(p);
      void p.then(() => inFlight.delete(p));
    }
    await Bun.sleep(1);
  }
  out.sendMs = Math.max(1, performance.now() - t0);
  await Promise.all(inFlight);
  return out;
}

/** Receive time minus the time the notifier's 202 arrived, per delivery: the share of the latency after the notification was stored (negative when the socket was faster than the HTTP answer). */
function afterAck(ids: string[], at: number[], acks: Map<string, number>): number[] {
  const out: number[] = [];
  ids.forEach((id, i) => {
    const ack = acks.get(id);
    if (ack !== undefined) out.push(at[i]! - ack);
  });
  return out;
}

function empty(rate: number): LatencyResult {
  const d = distribution([]);
  return {
    via: "notifications", ratePerSec: rate, durationMs: 0, users: 0, gateways: GATEWAYS, socketsPerUser: GATEWAYS, posted: 0, accepted: 0, failedPosts: 0,
    achievedRatePerSec: 0, expected: 0, delivered: 0, lost: 0, duplicates: 0, latencyMs: d, postMs: d, afterAckMs: d,
  };
}
