/**
 * A load-generator process: holds up to SOCKETS_PER_WORKER (19,000 here, where the fd limit is
 * 20,000) cheap WebSocket clients and obeys the orchestrator over IPC. Started by bench/lib/pool.ts.
 */
import { Conn, clientFrame, connHandlers, type ConnSink } from "./conn.ts";
import { wallNow, type Command, type OpenGroup, type OpenReply, type PumpReply, type RateReply, type ReadMode, type Request, type WorkerStats } from "./messages.ts";
import { ProtocolSessions } from "./session.ts";

const conns: (Conn | undefined)[] = [];
let open = 0;
let stats = fresh();
let pump: Pump | undefined;

function fresh(): WorkerStats {
  return { open: 0, frames: 0, wsFrames: 0, bytes: 0, firstAt: 0, lastAt: 0, unexpectedCloses: 0, closeCodes: {}, decodeErrors: 0, duplicates: 0, latencies: [], ids: [], at: [] };
}

const pending = new Map<Conn, (r: { ok: boolean; why?: string }) => void>();

/** `protocol` and `track` sockets: their sessions settle on the subscribe reply, and `track` ones reconnect by a plan. */
const sessions = new ProtocolSessions({
  done(c, ok, why) {
    const resolve = pending.get(c);
    pending.delete(c);
    resolve?.({ ok, ...(why === undefined ? {} : { why }) });
  },
  connect(index, plan, handshake) {
    const c = new Conn(index, plan.host, plan.port, plan.path, true, sink, clientFrame(0x1, new TextEncoder().encode(handshake)));
    conns[index] = c;
    Bun.connect<Conn>({ hostname: plan.host, port: plan.port, data: c, socket: connHandlers }).catch((err: unknown) => c.fail(String(err)));
    return c;
  },
});

const sink: ConnSink = {
  settled(c, ok, why) {
    if (ok) open++;
    // A protocol session settles on its subscribe reply (the sessions' done hook), not on the upgrade.
    const session = sessions.of(c);
    if (session) {
      if (!ok) sessions.failed(c, session, `upgrade: ${(why ?? "failed").slice(0, 60)}`);
      return;
    }
    const resolve = pending.get(c);
    pending.delete(c);
    resolve?.({ ok, ...(why === undefined ? {} : { why }) });
  },
  frames(c, frames, bytes, wsFrames) {
    stats.bytes += bytes;
    stats.wsFrames += wsFrames;
    if (frames > 0) {
      stats.frames += frames;
      const now = wallNow();
      if (stats.firstAt === 0) stats.firstAt = now;
      stats.lastAt = now;
      if (c.lane >= 0 && pump) pump.more(c.lane);
    }
  },
  text(c, text, at) {
    const session = sessions.of(c);
    if (session) return sessions.text(c, session, text, at);
    // A client protocol frame: replies are not notifications; each line of a push frame carries one in `pub.data`.
    if (text.startsWith('{"id":') && text.charCodeAt(6) >= 48 && text.charCodeAt(6) <= 57) return; // a reply: a numeric id (a notification's id is a string)
    if (text.startsWith('{"push"')) {
      for (const line of text.split("\n")) {
        let n: unknown;
        try {
          n = (JSON.parse(line) as { push?: { pub?: { data?: unknown } } }).push?.pub?.data;
        } catch {
          n = undefined;
        }
        notification(c, n, at);
      }
      return;
    }
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      v = undefined;
    }
    notification(c, v, at);
  },

  closed(c, expected, code) {
    if (c.ready) open--;
    if (!expected) {
      stats.unexpectedCloses++;
      const k = String(code ?? 1006);
      stats.closeCodes[k] = (stats.closeCodes[k] ?? 0) + 1;
    }
    const session = sessions.of(c);
    if (session) sessions.closed(c, session, expected, code);
  },
};

/** One notification frame (`{seq, body, id}`, the body the send time) received at `at`: its latency, or a decode error. */
function notification(c: Conn, v: unknown, at: number): void {
  const n = (typeof v === "object" && v !== null ? v : {}) as { seq?: unknown; body?: unknown; id?: unknown };
  const sentAt = Number(n.body);
  if (typeof n.seq !== "number" || !Number.isFinite(sentAt)) {
    stats.decodeErrors++;
    return;
  }
  if (n.seq <= c.lastSeq) stats.duplicates++;
  c.lastSeq = n.seq;
  stats.latencies!.push(at - sentAt);
  stats.ids!.push(String(n.id));
  stats.at!.push(at);
}

/** Opens one socket; resolves false when the upgrade fails. */
function openOne(index: number, g: OpenGroup, mode: ReadMode, k = 0): Promise<{ ok: boolean; why?: string }> {
  const protocol = mode === "protocol" || mode === "track";
  const handshake = g.handshake === undefined ? undefined : g.tokens ? g.handshake.replaceAll("$TOKEN", g.tokens[k]!) : g.handshake;
  const c = new Conn(index, g.host, g.port, g.path, mode === "notify" || protocol, sink, handshake === undefined ? undefined : clientFrame(0x1, new TextEncoder().encode(handshake)), g.engineIo ? "engine.io" : g.v1 ? "v1" : g.countLines ? "lines" : "frames");
  conns[index] = c;
  if (protocol) sessions.start(index, c, g.tokens?.[k] ?? "", mode === "track");
  return new Promise((resolve) => {
    const timer = setTimeout(() => c.fail("upgrade timed out"), 15_000);
    pending.set(c, (r) => {
      clearTimeout(timer);
      resolve(r);
    });
    Bun.connect<Conn>({ hostname: g.host, port: g.port, data: c, socket: connHandlers }).catch((err: unknown) => c.fail(String(err)));
  });
}

async function openGroups(groups: OpenGroup[], mode: ReadMode, concurrency: number): Promise<OpenReply> {
  const jobs = groups.flatMap((g) => Array.from({ length: g.count }, (_, k) => ({ g, k })));
  const first = conns.length;
  conns.length = first + jobs.length;
  let next = 0;
  let opened = 0;
  let failed = 0;
  let startedAt = 0;
  let settledAt = 0;
  const errors: string[] = [];
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const k = next++;
      const { g, k: inGroup } = jobs[k]!;
      if (startedAt === 0) startedAt = wallNow();
      let r = await openOne(first + k, g, mode, inGroup);
      // A connect storm can be refused now and then: retry a few times before counting a failure.
      for (let attempt = 1; !r.ok && attempt <= 3; attempt++) {
        await Bun.sleep(50 * attempt);
        r = await openOne(first + k, g, mode, inGroup);
      }
      if (r.ok) {
        opened++;
        settledAt = wallNow();
      } else {
        failed++;
        conns[first + k] = undefined;
        if (errors.length < 5) errors.push(`${g.host}:${g.port}${g.path.split("?")[0]}: ${r.why ?? "failed"}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, jobs.length)) }, lane));
  return { first, opened, failed, errors, startedAt, settledAt };
}

/**
 * Keeps `window` messages in flight in each lane (a room): a message counts as in flight until
 * every pace socket of its lane (a room member on each server process) has received it. Sends go
 * out in batches, one write per sender.
 */
class Pump {
  sent = 0;
  readonly startAt = wallNow();
  private readonly lanes: {
    senders: Conn[];
    paces: Conn[];
    base: number[];
    batch: Uint8Array;
    frameLen: number;
    sent: number;
    rr: number;
  }[];
  private readonly deadline: number;
  private finished = false;
  private lastSeen = -1;
  private readonly watchdog: ReturnType<typeof setInterval>;
  constructor(
    lanes: { senders: Conn[]; paces: Conn[]; payload: string }[],
    private readonly window: number,
    durationMs: number,
    private readonly resolve: (r: PumpReply) => void,
  ) {
    this.lanes = lanes.map((l) => {
      const frame = clientFrame(0x1, new TextEncoder().encode(l.payload));
      const batch = new Uint8Array(frame.byteLength * window);
      for (let k = 0; k < window; k++) batch.set(frame, k * frame.byteLength);
      return { senders: l.senders, paces: l.paces, base: l.paces.map((p) => p.frames), batch, frameLen: frame.byteLength, sent: 0, rr: 0 };
    });
    this.deadline = performance.now() + durationMs;
    this.watchdog = setInterval(() => {
      let seen = 0;
      for (let k = 0; k < this.lanes.length; k++) seen += this.received(k);
      if (seen === this.lastSeen) this.end(true);
      this.lastSeen = seen;
    }, 5000);
  }

  /** Messages of lane `k` every one of its pace sockets has received. */
  received(k: number): number {
    const l = this.lanes[k]!;
    let min = Infinity;
    for (let j = 0; j < l.paces.length; j++) min = Math.min(min, l.paces[j]!.frames - l.base[j]!);
    return min;
  }

  /** Tops every lane up to the window. */
  start(): void {
    for (let k = 0; k < this.lanes.length; k++) this.more(k);
  }

  /** Tops lane `k` up to the window (a pace socket of it received something). */
  more(k: number): void {
    if (this.finished) return;
    if (performance.now() >= this.deadline) {
      this.end(false);
      return;
    }
    const l = this.lanes[k]!;
    const room = this.window - (l.sent - this.received(k));
    if (room <= 0) return;
    const n = l.senders.length;
    const each = Math.floor(room / n);
    const extra = room % n;
    for (let j = 0; j < n; j++) {
      const s = l.senders[(l.rr + j) % n]!;
      const count = each + (j < extra ? 1 : 0);
      if (count > 0) s.send(l.batch.subarray(0, count * l.frameLen));
    }
    l.rr = (l.rr + extra) % n;
    l.sent += room;
    this.sent += room;
  }

  end(stalled: boolean): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.watchdog);
    pump = undefined;
    this.resolve({ sent: this.sent, startAt: this.startAt, endAt: wallNow(), stalled });
  }
}

/** Most a send may be behind its due time before it counts as late. */
const LATE_MS = 5;

/**
 * Open loop: `ratePerSec` messages a second over all lanes (message k goes to lane k mod lanes,
 * the lane's senders taking turns), each carrying its lane's seq and its wall-clock send time,
 * whatever the server does with them.
 */
async function sendAtRate(cmd: Extract<Command, { op: "rate" }>): Promise<RateReply> {
  const lanes = cmd.lanes.map((l) => ({ ...l, conns: pick(l.senders), seq: rateSeqs.get(l.senders[0]!) ?? 0, rr: 0 }));
  const total = Math.round((cmd.ratePerSec * cmd.durationMs) / 1000);
  const t0 = performance.now();
  const startAt = wallNow();
  let sent = 0;
  let late = 0;
  while (sent < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - t0) * cmd.ratePerSec) / 1000) + 1);
    for (; sent < due; sent++) {
      if (now - t0 - (sent * 1000) / cmd.ratePerSec > LATE_MS) late++;
      const l = lanes[sent % lanes.length]!;
      const c = l.conns[l.rr++ % l.conns.length]!;
      c.send(clientFrame(0x1, encoder.encode(`${l.before}${++l.seq}${l.middle}${wallNow()}${l.after}`)));
    }
    await Bun.sleep(1);
  }
  for (const l of lanes) rateSeqs.set(l.senders[0]!, l.seq);
  return { sent, startAt, endAt: wallNow(), late };
}

/** The last seq each room sent at a rate, by its first sender's index: a room's seq goes on growing over the calls (receivers count a repeat as a duplicate). */
const rateSeqs = new Map<number, number>();

const encoder = new TextEncoder();

function pick(indices: number[]): Conn[] {
  return indices.map((i) => {
    const c = conns[i];
    if (!c || c.done) throw new Error(`socket ${i} is not open`);
    return c;
  });
}

async function closeAll(): Promise<number> {
  pump?.end(false);
  sessions.clear();
  for (const c of conns) c?.close();
  rateSeqs.clear();
  const deadline = Date.now() + 5000;
  while (open > 0 && Date.now() < deadline) await Bun.sleep(20);
  for (const c of conns) if (c && !c.done) c.terminate();
  await Bun.sleep(20);
  conns.length = 0;
  return open;
}

async function handle(cmd: Command): Promise<unknown> {
  switch (cmd.op) {
    case "open":
      return openGroups(cmd.groups, cmd.mode, cmd.concurrency);
    case "reset":
      stats = fresh();
      sessions.resetCounters();
      return true;
    case "stats": {
      const { latencies, ids, at, ...rest } = stats;
      return { ...rest, open, ...(cmd.latencies ? { latencies, ids, at } : {}) } satisfies WorkerStats;
    }
    case "pump": {
      if (pump) throw new Error("a pump is already running");
      const lanes = cmd.lanes.map((l) => ({ senders: pick(l.senders), paces: pick(l.paces), payload: l.payload }));
      for (const c of conns) if (c) c.lane = -1;
      lanes.forEach((l, k) => {
        for (const c of l.paces) c.lane = k;
      });
      const done = new Promise<PumpReply>((resolve) => {
        pump = new Pump(lanes, cmd.window, cmd.durationMs, resolve);
      });
      pump!.start();
      return done;
    }
    case "rate":
      return sendAtRate(cmd);
    case "closeAll":
      return closeAll();
    case "sessions":
      return sessions.stats(cmd.upTo, cmd.times === true);
    case "reconnect":
      sessions.arm(cmd.plan);
      return true;
    case "exit":
      setTimeout(() => process.exit(0), 10);
      return true;
  }
}

process.on("message", (req: Request) => {
  handle(req).then(
    (value) => process.send!({ id: req.id, ok: true, value }),
    (err: unknown) => process.send!({ id: req.id, ok: false, error: String(err) }),
  );
});
// The orchestrator is gone: nothing left to do.
process.on("disconnect", () => process.exit(0));
process.send!({ id: 0, ok: true, value: "ready" });
