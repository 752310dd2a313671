import { NATS_ADMIN } from "@rt/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { NOTIFICATIONS_STREAM, ROOMS_STREAM } from "@rt/protocol";
import { RawHttp } from "../client/http.ts";
import { WRK, wrkPost } from "../lib/wrk.ts";
import type { Ctx } from "../lib/plan.ts";
import { distribution, round, si } from "../lib/stats.ts";
import { startGateways, startNotifier, type Target } from "../lib/targets.ts";
import type { ApiResult } from "../report/types.ts";

/** One kind of request, sent by `senders` loops for `durationMs`: how many items it stored, and how fast the answers came. */
interface Arm {
  name: ApiResult["arm"];
  senders: number;
  itemsPerRequest: number;
  path: string;
  /** The k-th request's body. */
  body(k: number): string;
  /** The same as a Lua expression of the request counter `n`, for wrk (single-item arms). */
  bodyLua?: string;
  /** The stream whose last sequence counts what was stored (wrk reads no answers). */
  stream?: string;
  /** The items an answer says were stored. */
  stored(status: number, answer: unknown): number;
}

/**
 * The notifier's HTTP API under load (each sender a keep-alive connection of the cheap RawHttp client), with the gateway that owns the ROOMS stream running:
 * `publish` into rooms (16 concurrent senders), single notifications (the same senders: the
 * baseline), and notifications in batches of 1,000. Items stored and acknowledged per second, and
 * the request latency.
 */
export async function runApi(ctx: Ctx): Promise<ApiResult[]> {
  const { plan, progress } = ctx;
  const p = plan.api;
  const out: ApiResult[] = [];
  let gateway: Target | undefined;
  let notifier: Awaited<ReturnType<typeof startNotifier>> | undefined;
  let nc: NatsConnection | undefined;
  try {
    progress.status("api: starting the notifier and a gateway");
    notifier = await startNotifier(ctx.nats.url);
    gateway = await startGateways(1, ctx.nats.url);
    const base = notifier.http;
    const user = (k: number) => `bench-user-${k % p.users}`;
    const arms: Arm[] = [
      {
        name: "publish",
        senders: p.senders,
        itemsPerRequest: 1,
        path: "/api/publish",
        body: (k) => JSON.stringify({ channel: `chat:bench-api-${k % 64}`, data: { text: "a publication from a backend", k } }),
        bodyLua: `string.format('{"channel":"chat:bench-api-%d","data":{"text":"a publication from a backend","k":%d}}', n % 64, n)`,
        stream: ROOMS_STREAM,
        stored: (status, a) => (status === 200 && typeof (a as { result?: { offset?: number } }).result?.offset === "number" ? 1 : 0),
      },
      {
        name: "notify-single",
        senders: p.senders,
        itemsPerRequest: 1,
        path: "/notifications",
        body: (k) => JSON.stringify({ user_id: user(k), body: "a notification" }),
        bodyLua: `string.format('{"user_id":"bench-user-%d","body":"a notification"}', math.random(${p.users}))`,
        stream: NOTIFICATIONS_STREAM,
        stored: (status) => (status === 202 ? 1 : 0),
      },
      {
        name: "notify-batch",
        senders: p.batchSenders,
        itemsPerRequest: p.batchSize,
        path: "/notifications",
        body: (k) => JSON.stringify(Array.from({ length: p.batchSize }, (_, i) => ({ user_id: user(k * p.batchSize + i), body: "a notification" }))),
        stored: (status, a) => (status === 202 || status === 207 ? (a as Array<{ status: number }>).filter((x) => x.status === 202).length : 0),
      },
    ];
    nc = await connect({ ...NATS_ADMIN, servers: ctx.nats.url });
    for (const arm of arms) {
      // A short warm-up (JIT, connections), then the measured run: with wrk when it is installed.
      await drive(base, arm, 300);
      progress.status(`api: ${arm.name}`);
      const r = WRK && arm.bodyLua && arm.stream ? await driveWrk(nc, base, arm, p.durationMs) : await drive(base, arm, p.durationMs);
      out.push(r);
      progress.log(`api ${arm.name} (${arm.senders} senders, ${arm.itemsPerRequest} per request): ${si(r.itemsPerSec)} items/s, request p50 ${r.latencyMs.p50.toFixed(2)} ms p99 ${r.latencyMs.p99.toFixed(2)} ms, errors ${r.errors}`);
    }
  } catch (err) {
    out.push({ arm: "publish", senders: 0, itemsPerRequest: 0, requests: 0, items: 0, durationMs: 0, itemsPerSec: 0, latencyMs: distribution([]), errors: 0, lost: 0, error: String(err) });
    progress.log(`api: ${String(err)}`);
  } finally {
    await nc?.close();
    await gateway?.[Symbol.asyncDispose]();
    await notifier?.[Symbol.asyncDispose]();
  }
  return out;
}

/** The arm driven by wrk; what was stored is read from the stream (its last sequence before and after). */
async function driveWrk(nc: NatsConnection, base: string, arm: Arm, durationMs: number): Promise<ApiResult> {
  const jsm = await jetstreamManager(nc);
  const lastSeq = async () => (await jsm.streams.info(arm.stream!)).state.last_seq;
  wrkPost(`${base}${arm.path}`, arm.bodyLua!, arm.senders, 1000); // warm-up: JIT, connections, the stream's subjects
  const before = await lastSeq();
  const run = wrkPost(`${base}${arm.path}`, arm.bodyLua!, arm.senders, durationMs);
  // Stored during the run: what the stream took, less requests still in flight when wrk stopped counting.
  const items = Math.min((await lastSeq()) - before, run.requests - run.non2xx);
  return {
    arm: arm.name,
    senders: arm.senders,
    itemsPerRequest: 1,
    requests: run.requests,
    items,
    durationMs: Math.round(run.durationMs),
    itemsPerSec: Math.round((items * 1000) / run.durationMs),
    latencyMs: { ...distribution([]), count: run.requests, p50: run.p50Ms, p99: run.p99Ms },
    errors: run.requests - items,
    lost: 0,
    generator: "wrk",
  };
}

async function drive(base: string, arm: Arm, durationMs: number): Promise<ApiResult> {
  const latencies: number[] = [];
  let requests = 0;
  let items = 0;
  let errors = 0;
  let k = 0;
  const t0 = performance.now();
  const until = t0 + durationMs;
  const clients = await Promise.all(Array.from({ length: arm.senders }, () => RawHttp.connect(base)));
  const sender = async (http: RawHttp) => {
    while (performance.now() < until) {
      const body = arm.body(k++);
      const t = performance.now();
      const res = await http.post(arm.path, body);
      latencies.push(performance.now() - t);
      requests++;
      const stored = arm.stored(res.status, JSON.parse(res.body));
      items += stored;
      if (stored < arm.itemsPerRequest) errors++;
    }
  };
  try {
    await Promise.all(clients.map(sender));
  } finally {
    for (const c of clients) c.close();
  }
  const ms = performance.now() - t0;
  return {
    arm: arm.name,
    senders: arm.senders,
    itemsPerRequest: arm.itemsPerRequest,
    requests,
    items,
    durationMs: Math.round(ms),
    itemsPerSec: Math.round((items * 1000) / ms),
    latencyMs: distribution(latencies.map((x) => round(x, 3))),
    errors,
    lost: 0,
    generator: "bun",
  };
}
