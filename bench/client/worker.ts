/**
 * A load-generator process: holds up to SOCKETS_PER_WORKER (19,000 here, where the fd limit is
 * 20,000) cheap WebSocket clients and obeys the orchestrator over IPC. Started by bench/lib/pool.ts.
 */
import { Conn, clientFrame, connHandlers, type ConnSink } from "./conn.ts";
import { wallNow, type Command, type OpenGroup, type OpenReply, type PumpReply, type ReadMode, type Request, type WorkerStats } from "./messages.ts";
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
      if (c.pace && pump) pump.more();
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
  const c = new Conn(index, g.host, g.port, g.path, mode === "notify" || protocol, sink, handshake === undefined ? undefined : clientFrame(0x1, new TextEncoder().encode(handshake)), g.engineIo ? "engine.io" : g.countLines ? "lines" : "frames");
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
  const errors: string[] = [];
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const k = next++;
      const { g, k: inGroup } = jobs[k]!;
      let r = await openOne(first + k, g, mode, inGroup);
      // A connect storm can be refused now and then: retry a few times before counting a failure.
      for (let attempt = 1; !r.ok && attempt <= 3; attempt++) {
        await Bun.sleep(50 * attempt);
        r = await openOne(first + k, g, mode, inGroup);
      }
      if (r.ok) opened++;
      else {
        failed++;
        conns[first + k] = undefined;
        if (errors.length < 5) errors.push(`${g.host}:${g.port}${g.path.split("?")[0]}: ${r.why ?? "failed"}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, jobs.length)) }, lane));
  return { first, opened, failed, errors };
}

/**
 * Keeps `window` messages in flight: a message counts as in flight until every pace socket
 * (a room member on each gateway) has received it. Sends go out in batches, one write per sender.
 */
class Pump {
  sent = 0;
  readonly startAt = wallNow();
  private rr = 0;
  private readonly base: number[];
  private readonly batch: Uint8Array;
  private readonly frameLen: number;
  private readonly deadline: number;
  private finished = false;
  private lastSeen = -1;
  private readonly watchdog: ReturnType<typeof setInterval>;
  constructor(
    private readonly senders: Conn[],
    private readonly paces: Conn[],
    private readonly window: number,
    durationMs: number,
    payload: string,
    private readonly resolve: (r: PumpReply) => void,
  ) {
    const frame = clientFrame(0x1, new TextEncoder().encode(payload));
    this.frameLen = frame.byteLength;
    this.batch = new Uint8Array(frame.byteLength * window);
    for (let k = 0; k < window; k++) this.batch.set(frame, k * frame.byteLength);
    this.base = paces.map((p) => p.frames);
    this.deadline = performance.now() + durationMs;
    this.watchdog = setInterval(() => {
      const seen = this.received();
      if (seen === this.lastSeen) this.end(true);
      this.lastSeen = seen;
    }, 5000);
  }

  /** Messages every pace socket has received. */
  received(): number {
    let min = Infinity;
    for (let k = 0; k < this.paces.length; k++) min = Math.min(min, this.paces[k]!.frames - this.base[k]!);
    return min;
  }

  more(): void {
    if (this.finished) return;
    if (performance.now() >= this.deadline) {
      this.end(false);
      return;
    }
    const room = this.window - (this.sent - this.received());
    if (room <= 0) return;
    const n = this.senders.length;
    const each = Math.floor(room / n);
    const extra = room % n;
    for (let k = 0; k < n; k++) {
      const s = this.senders[(this.rr + k) % n]!;
      const count = each + (k < extra ? 1 : 0);
      if (count > 0) s.send(this.batch.subarray(0, count * this.frameLen));
    }
    this.rr = (this.rr + extra) % n;
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
      const senders = pick(cmd.senders);
      const paces = pick(cmd.paces);
      for (const c of conns) if (c) c.pace = false;
      for (const c of paces) c.pace = true;
      const done = new Promise<PumpReply>((resolve) => {
        pump = new Pump(senders, paces, cmd.window, cmd.durationMs, cmd.payload, resolve);
      });
      pump!.more();
      return done;
    }
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
