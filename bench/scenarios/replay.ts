import { signToken, type ServiceProcess } from "@rt/testkit";
import type { Ctx } from "../lib/plan.ts";
import { distribution } from "../lib/stats.ts";
import { startGateways, startNotifier, type Target } from "../lib/targets.ts";
import type { ReplayResult } from "../report/types.ts";

/** Give up on one replay after this long. */
const TIMEOUT_MS = 30_000;

/** Where a user's inbox stands (a connect result's `subs["#user"]`, or a `/notifications` frame). */
interface Position {
  epoch: string;
  offset: number;
}

/**
 * Replay: a user's client is positioned in its inbox, goes away, `missed` notifications are stored
 * (one batch POST), and the client comes back asking to recover: the time from opening the socket
 * to the last missed notification received, through the client protocol (connect with
 * `subs: {"#user": {recover, offset, epoch}}`) and through `/notifications?since=&epoch=`. Every
 * round a new user; each replay checks it got every notification once, in order.
 */
export async function runReplay(ctx: Ctx): Promise<ReplayResult[]> {
  const { plan, progress } = ctx;
  const p = plan.replay;
  const out: ReplayResult[] = [];
  let notifier: ServiceProcess | undefined;
  let gateway: Target | undefined;
  try {
    progress.status("replay: starting the notifier and a gateway");
    // Each user's inbox must keep the one before the missed ones too (the default keeps 1,000 per user).
    notifier = await startNotifier(ctx.nats.url, { NOTIFICATIONS_MAX_PER_USER: String(2 * p.missed + 10) });
    gateway = await startGateways(1, ctx.nats.url);
    const ws = `ws://127.0.0.1:${gateway.ports[0]}`;
    for (const via of ["protocol", "notifications"] as const) {
      const times: number[] = [];
      const result: ReplayResult = { via, missed: p.missed, rounds: p.rounds, ms: distribution([]), lost: 0, duplicates: 0, recovered: 0 };
      try {
        for (let round = 0; round <= p.rounds; round++) {
          const user = `bench-replay-${via}-${round}-${Date.now()}`;
          const token = await signToken(user);
          const start = await position(notifier, ws, via, user, token);
          await store(notifier, user, p.missed);
          progress.status(`replay ${via}: round ${round}/${p.rounds}`);
          const r = await replay(ws, via, user, token, start, p.missed);
          if (round === 0) continue; // warm-up: paths, JIT and the consumer code hot
          times.push(r.ms);
          result.lost += r.lost;
          result.duplicates += r.duplicates;
          if (r.recovered) result.recovered++;
          progress.log(`replay ${via} round ${round}: ${p.missed} missed notifications in ${r.ms.toFixed(1)} ms${r.lost ? `, LOST ${r.lost}` : ""}`);
        }
      } catch (err) {
        result.error = String(err);
        progress.log(`replay ${via}: ${result.error}`);
      }
      result.ms = distribution(times);
      out.push(result);
    }
  } finally {
    await gateway?.[Symbol.asyncDispose]();
    await notifier?.[Symbol.asyncDispose]();
  }
  return out;
}

/** Stores one notification for `user` and reads the position a client is at after it. */
async function position(notifier: ServiceProcess, ws: string, via: "protocol" | "notifications", user: string, token: string): Promise<Position> {
  await store(notifier, user, 1);
  if (via === "notifications") {
    const frames = await collect(`${ws}/notifications?token=${token}&since=0`, undefined, (f) => f.length >= 1);
    const n = JSON.parse(frames[0]!) as { seq: number; epoch: string };
    return { offset: n.seq, epoch: n.epoch };
  }
  const frames = await collect(`${ws}/connection/websocket`, JSON.stringify({ id: 1, connect: { token } }), (f) => f.some((x) => x.includes('"connect"')));
  const reply = frames.map((f) => JSON.parse(f) as { id?: number; connect?: { subs?: Record<string, Position> } }).find((r) => r.id === 1)!;
  const sub = reply.connect!.subs![`#${user}`]!;
  return { offset: sub.offset, epoch: sub.epoch };
}

/** `count` notifications for `user`, in one batch POST (all stored when it answers). */
async function store(notifier: ServiceProcess, user: string, count: number): Promise<void> {
  const body = JSON.stringify(Array.from({ length: count }, (_, i) => ({ user_id: user, body: `missed ${i}`, data: { i } })));
  const res = await fetch(`${notifier.http}/notifications`, { method: "POST", headers: { "content-type": "application/json" }, body });
  if (res.status !== 202 && res.status !== 207) throw new Error(`batch POST answered ${res.status}: ${await res.text()}`);
  const answers = (await res.json()) as Array<{ status?: number }>;
  const failed = answers.filter((a) => a.status !== undefined && a.status >= 300).length;
  if (failed > 0) throw new Error(`${failed} of ${count} notifications were not stored`);
}

/** Comes back asking for everything after `from`; resolves when `missed` arrived (or throws after TIMEOUT_MS). */
async function replay(ws: string, via: "protocol" | "notifications", user: string, token: string, from: Position, missed: number): Promise<{ ms: number; lost: number; duplicates: number; recovered: boolean }> {
  const seqs: number[] = [];
  let recovered = false;
  const t0 = performance.now();
  let t1 = 0;
  if (via === "notifications") {
    await collect(`${ws}/notifications?token=${token}&since=${from.offset}&epoch=${from.epoch}`, undefined, (frames) => {
      for (let i = seqs.length; i < frames.length; i++) seqs.push((JSON.parse(frames[i]!) as { seq: number }).seq);
      if (seqs.length < missed) return false;
      t1 = performance.now();
      return true;
    });
    recovered = true; // `since` is a recovery by definition: what is still kept comes
  } else {
    const connect = JSON.stringify({ id: 1, connect: { token, subs: { [`#${user}`]: { recover: true, offset: from.offset, epoch: from.epoch } } } });
    let seen = 0;
    await collect(`${ws}/connection/websocket`, connect, (frames) => {
      for (; seen < frames.length; seen++) {
        for (const line of frames[seen]!.split("\n")) {
          const r = JSON.parse(line) as { id?: number; connect?: { subs?: Record<string, { recovered?: boolean; publications?: Array<{ offset: number }> }> }; push?: { channel: string; pub?: { offset: number } } };
          if (r.id === 1) {
            const sub = r.connect?.subs?.[`#${user}`];
            recovered = sub?.recovered === true;
            for (const p of sub?.publications ?? []) seqs.push(p.offset);
          } else if (r.push?.channel === `#${user}` && r.push.pub) seqs.push(r.push.pub.offset);
        }
      }
      if (seqs.length < missed) return false;
      t1 = performance.now();
      return true;
    });
  }
  const unique = new Set(seqs);
  const inOrder = seqs.every((s, i) => i === 0 || s > seqs[i - 1]!);
  return { ms: t1 - t0, lost: Math.max(0, missed - unique.size), duplicates: seqs.length - unique.size + (inOrder ? 0 : 1), recovered };
}

/** Opens `url` (sending `first` once open) and collects text frames until `done(frames)`; then closes. */
function collect(url: string, first: string | undefined, done: (frames: string[]) => boolean): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const frames: string[] = [];
    const sock = new WebSocket(url);
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error(`${url.split("?")[0]}: ${frames.length} frames after ${TIMEOUT_MS} ms (first: ${frames[0]?.slice(0, 300) ?? "none"})`));
    }, TIMEOUT_MS);
    sock.onopen = () => {
      if (first !== undefined) sock.send(first);
    };
    sock.onmessage = (e) => {
      frames.push(String(e.data));
      if (done(frames)) {
        clearTimeout(timer);
        sock.close();
        resolve(frames);
      }
    };
    sock.onclose = (e) => {
      clearTimeout(timer);
      reject(new Error(`${url.split("?")[0]} closed ${e.code} after ${frames.length} frames`));
    };
  });
}
